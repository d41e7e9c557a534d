"""mmaction2 dataset over the generated moving-shapes set."""
from ..deps import require

require('mmaction')

from mmaction.datasets import RawframeDataset
from mmaction.registry import DATASETS

from .moving_shapes import DEFAULTS, MOTION_CLASSES, ensure_moving_shapes


@DATASETS.register_module()
class MovingShapesDataset(RawframeDataset):
    """Raw-frame clips of moving shapes, written under ``data_root`` on first
    use; the label is the direction of motion.

    Args:
        data_root (str): folder of the set (e.g. ``data/demo_moving_shapes``).
        generate (dict): arguments of
            :func:`~mm_iresnet.datasets.moving_shapes.write_moving_shapes`.
        **kwargs: those of mmaction's ``RawframeDataset``.
    """

    METAINFO = dict(classes=MOTION_CLASSES)

    def __init__(self,
                 *args,
                 data_root: str = None,
                 generate: dict = None,
                 filename_tmpl: str = 'img_{:05d}.png',
                 **kwargs):
        if not data_root:
            raise ValueError('MovingShapesDataset needs data_root: the '
                             'folder the set is generated into')
        ensure_moving_shapes(data_root, **dict(DEFAULTS, **(generate or {})))
        super().__init__(
            *args, data_root=data_root, filename_tmpl=filename_tmpl, **kwargs)
