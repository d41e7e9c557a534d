"""Demo data sets that generate themselves on first use (no downloads).

Generators live here; the dataset classes are registered by importing
``mm_iresnet.datasets.shapes_dataset`` (mmdet) or
``mm_iresnet.datasets.moving_shapes_dataset`` (mmaction2), as the demo
configs' ``custom_imports`` do, so ``import mm_iresnet`` stays light.
"""
from .moving_shapes import (MOTION_CLASSES, draw_moving_clip,
                            ensure_moving_shapes, write_moving_shapes)
from .shapes import (SHAPE_CLASSES, draw_shapes_image, ensure_generated,
                     ensure_shapes_coco, write_shapes_coco)

__all__ = [
    'MOTION_CLASSES', 'draw_moving_clip', 'ensure_moving_shapes',
    'write_moving_shapes', 'SHAPE_CLASSES', 'draw_shapes_image',
    'ensure_generated', 'ensure_shapes_coco', 'write_shapes_coco'
]
