"""Demo data sets that generate themselves on first use (no downloads).

Generators live here; the dataset classes are registered by importing
``mm_iresnet.datasets.shapes_dataset`` (mmdet),
``mm_iresnet.datasets.moving_shapes_dataset`` or
``mm_iresnet.datasets.moving_skeletons_dataset`` (mmaction2) or
``mm_iresnet.datasets.figures_dataset`` (mmpose), as the demo configs'
``custom_imports`` do, so ``import mm_iresnet`` stays light.
"""
from .figures import draw_figure_image, ensure_figures_coco, write_figures_coco
from .moving_shapes import (MOTION_CLASSES, draw_moving_clip,
                            ensure_moving_shapes, motion_path,
                            write_moving_shapes)
from .moving_skeletons import (draw_skeleton_clip, ensure_moving_skeletons,
                               write_moving_skeletons)
from .shapes import (SHAPE_CLASSES, draw_shapes_image, ensure_generated,
                     ensure_shapes_coco, write_shapes_coco)

__all__ = [
    'MOTION_CLASSES', 'draw_moving_clip', 'ensure_moving_shapes',
    'motion_path', 'write_moving_shapes', 'draw_skeleton_clip',
    'ensure_moving_skeletons', 'write_moving_skeletons', 'SHAPE_CLASSES',
    'draw_shapes_image', 'ensure_generated', 'ensure_shapes_coco',
    'write_shapes_coco', 'draw_figure_image', 'ensure_figures_coco',
    'write_figures_coco'
]
