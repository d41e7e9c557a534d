"""mmaction2 ``PoseDataset`` over the generated moving-skeletons set."""
from ..deps import require

require('mmaction')

from mmaction.datasets import PoseDataset
from mmaction.registry import DATASETS

from .moving_shapes import MOTION_CLASSES
from .moving_skeletons import ANN_FILE, DEFAULTS, ensure_moving_skeletons


@DATASETS.register_module()
class MovingSkeletonsDataset(PoseDataset):
    """mmaction's ``PoseDataset`` on the moving-skeletons annotation file,
    written under ``data_root`` on first use; the label is the motion.

    Args:
        data_root (str): folder of the set (e.g.
            ``data/demo_moving_skeletons``).
        generate (dict): arguments of :func:`~mm_iresnet.datasets.
            moving_skeletons.write_moving_skeletons`.
        ann_file (str): the annotation file in ``data_root``.
        **kwargs: those of mmaction's ``PoseDataset`` (``split='train'`` or
            ``'val'``, ``pipeline``, ...).
    """

    METAINFO = dict(classes=MOTION_CLASSES)

    def __init__(self,
                 *args,
                 data_root: str = None,
                 generate: dict = None,
                 ann_file: str = ANN_FILE,
                 **kwargs):
        if not data_root:
            raise ValueError('MovingSkeletonsDataset needs data_root: the '
                             'folder the set is generated into')
        ensure_moving_skeletons(data_root, **dict(DEFAULTS, **(generate
                                                               or {})))
        super().__init__(ann_file, *args, data_root=data_root, **kwargs)
