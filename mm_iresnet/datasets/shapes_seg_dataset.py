"""mmseg dataset over the generated shapes set (semantic label maps)."""
from ..deps import require

require('mmseg')

import numpy as np
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from .shapes import DEFAULTS, SHAPE_CLASSES, ensure_shapes_seg


@DATASETS.register_module()
class ShapesSegDataset(BaseSegDataset):
    """The shapes images with per-pixel labels (background and the four
    shapes), written under ``data_root`` on first use.

    Args:
        generate (dict): arguments of
            :func:`~mm_iresnet.datasets.shapes.write_shapes_seg` (sizes,
            seed); the set is generated only when its files are missing.
        shuffle_labels (int, optional): the control of the demo: a seed with
            which each image is paired with another image's label map (a
            permutation without fixed points), so nothing can be learnt from
            the pictures; ``None`` (default) keeps the true pairs.
        **kwargs: those of mmseg's ``BaseSegDataset``.
    """

    METAINFO = dict(
        classes=('background', ) + SHAPE_CLASSES,
        palette=[(0, 0, 0), (220, 20, 60), (0, 130, 230), (250, 170, 30),
                 (0, 170, 90)])

    def __init__(self,
                 *args,
                 generate: dict = None,
                 shuffle_labels: int = None,
                 img_suffix: str = '.png',
                 seg_map_suffix: str = '.png',
                 **kwargs):
        root = kwargs.get('data_root')
        if not root:
            raise ValueError(
                'ShapesSegDataset needs data_root: the folder the set is '
                'generated into (e.g. data/demo_shapes_seg/)')
        ensure_shapes_seg(root, **dict(DEFAULTS, **(generate or {})))
        self.shuffle_labels = shuffle_labels
        super().__init__(
            *args,
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            **kwargs)

    def load_data_list(self):
        data_list = super().load_data_list()
        if self.shuffle_labels is None:
            return data_list
        if len(data_list) < 2:
            raise ValueError('shuffle_labels needs at least two images')
        # a random cyclic shift of a random order: no image keeps its map
        rng = np.random.RandomState(self.shuffle_labels)
        order = rng.permutation(len(data_list))
        maps = [data_list[i]['seg_map_path'] for i in order]
        shift = 1 + rng.randint(len(data_list) - 1)
        for k, i in enumerate(order):
            data_list[i]['seg_map_path'] = maps[(k + shift) % len(maps)]
        return data_list
