"""Demo datasets that generate themselves on first use.

Import this module (``custom_imports=dict(imports=['mm_iresnet',
'mm_iresnet.datasets'])``) to register them; it pulls in mmdet's datasets,
which ``import mm_iresnet`` alone does not.
"""
from .shapes import SHAPE_CLASSES, ensure_shapes_coco, write_shapes_coco
from .shapes_dataset import ShapesDataset

__all__ = ['SHAPE_CLASSES', 'ensure_shapes_coco', 'write_shapes_coco',
           'ShapesDataset']
