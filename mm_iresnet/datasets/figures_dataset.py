"""mmpose dataset over the generated figures set (COCO person keypoints)."""
from ..deps import require

require('mmpose')

import numpy as np
from mmpose.datasets import CocoDataset
from mmpose.registry import DATASETS

from .figures import DEFAULTS, ensure_figures_coco


@DATASETS.register_module()
class FiguresDataset(CocoDataset):
    """The figures set as mmpose's ``CocoDataset`` (COCO's metainfo: keypoint
    names, flip pairs, OKS sigmas), written under ``data_root`` on first use.

    Args:
        generate (dict): arguments of
            :func:`~mm_iresnet.datasets.figures.write_figures_coco` (sizes,
            seed); the set is generated only when its files are missing.
        shuffle_labels (int, optional): the control of the demo: a seed with
            which each figure is given another figure's keypoints (a
            permutation without fixed points), carried from that figure's box
            into its own (same place relative to the box, with their
            visibility), so the crops stay right and only the pose is
            unrelated to the picture; ``None`` (default) keeps the true
            keypoints. Top-down mode only.
        **kwargs: those of mmpose's ``CocoDataset``.
    """

    def __init__(self,
                 *args,
                 generate: dict = None,
                 shuffle_labels: int = None,
                 **kwargs):
        root = kwargs.get('data_root')
        if not root:
            raise ValueError(
                'FiguresDataset needs data_root: the folder the set is '
                'generated into (e.g. data/demo_figures/)')
        if shuffle_labels is not None and \
                kwargs.get('data_mode', 'topdown') != 'topdown':
            raise ValueError('shuffle_labels needs data_mode="topdown"')
        ensure_figures_coco(root, **dict(DEFAULTS, **(generate or {})))
        self.shuffle_labels = shuffle_labels
        super().__init__(*args, **kwargs)

    def load_data_list(self):
        data_list = super().load_data_list()
        if self.shuffle_labels is None:
            return data_list
        if len(data_list) < 2:
            raise ValueError('shuffle_labels needs at least two figures')
        # a random cyclic shift of a random order: no figure keeps its pose
        rng = np.random.RandomState(self.shuffle_labels)
        order = rng.permutation(len(data_list))
        shift = 1 + rng.randint(len(data_list) - 1)
        source = np.empty(len(data_list), int)
        source[order] = order[(np.arange(len(order)) + shift) % len(order)]
        originals = [(d['keypoints'], d['keypoints_visible'], d['bbox'],
                      d['num_keypoints']) for d in data_list]
        for i, j in enumerate(source):
            keypoints, visible, box, count = originals[j]
            own = data_list[i]['bbox']
            relative = (keypoints - box[:, None, :2]) / \
                (box[:, None, 2:] - box[:, None, :2])
            data_list[i].update(
                keypoints=(own[:, None, :2] + relative *
                           (own[:, None, 2:] - own[:, None, :2])).astype(
                               np.float32),
                keypoints_visible=visible.copy(),
                num_keypoints=count)
        return data_list
