"""mmdet dataset over the generated shapes set."""
from ..deps import require

require('mmdet')

from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS

from .shapes import DEFAULTS, SHAPE_CLASSES, ensure_shapes_coco


@DATASETS.register_module()
class ShapesDataset(CocoDataset):
    """COCO-format shapes set, written under ``data_root`` on first use.

    Args:
        generate (dict): arguments of
            :func:`~mm_iresnet.datasets.shapes.write_shapes_coco` (sizes,
            seed); the set is generated only when its files are missing.
        **kwargs: those of mmdet's ``CocoDataset``.
    """

    METAINFO = dict(
        classes=SHAPE_CLASSES,
        palette=[(220, 20, 60), (0, 130, 230), (250, 170, 30), (0, 170, 90)])

    def __init__(self, *args, generate: dict = None, **kwargs):
        root = kwargs.get('data_root')
        if not root:
            raise ValueError('ShapesDataset needs data_root: the folder the '
                             'set is generated into (e.g. data/demo_shapes/)')
        ensure_shapes_coco(root, **dict(DEFAULTS, **(generate or {})))
        super().__init__(*args, **kwargs)
