"""Deterministic generator of the *figures* keypoint demo set.

Each image shows one stick figure (the 17 COCO keypoints of
:mod:`~.moving_skeletons`' random poses: a head disk, a torso, thick
two-segment arms and legs) in one colour on a textured background, at a
random scale, lean, position and colour; in some images a solid shape
covers part of it. Written as a COCO person-keypoints set, what mmpose's
``CocoDataset`` and ``CocoMetric`` read: ``{train,val}/NNNNN.png`` and
``annotations/person_keypoints_{train,val}.json`` with the keypoints
(``x, y, v``: v = 2 visible, 1 under the covering shape), ``num_keypoints``,
the figure's ``bbox`` and ``area`` (its pixels), and the COCO ``person``
category with its keypoint names and skeleton. Every image is drawn from its
own seeded generator, so a seed gives the same bytes on any machine.
"""
import os
import os.path as osp
from typing import Dict, Tuple

import cv2
import numpy as np

from .moving_skeletons import _figure
from .shapes import (SHAPE_CLASSES, _image_seed, _shape_mask, _write_coco_json,
                     _write_png, ensure_generated, textured_background)

__all__ = [
    'COCO_KEYPOINTS', 'COCO_SKELETON', 'draw_figure_image',
    'write_figures_coco', 'ensure_figures_coco', 'ann_file'
]

#: the COCO person keypoints, in COCO's order
COCO_KEYPOINTS = ('nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear',
                  'left_shoulder', 'right_shoulder', 'left_elbow',
                  'right_elbow', 'left_wrist', 'right_wrist', 'left_hip',
                  'right_hip', 'left_knee', 'right_knee', 'left_ankle',
                  'right_ankle')
#: the COCO person skeleton (1-based keypoint ids, as in COCO's files)
COCO_SKELETON = ([16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12],
                 [7, 13], [6, 7], [6, 8], [7, 9], [8, 10], [9, 11], [2, 3],
                 [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7])
#: default sizes of the demo set
DEFAULTS = dict(num_train=2000, num_val=200, image_size=96, seed=0)

# limbs drawn as thick lines (0-based keypoint pairs): arms and legs
_LIMBS = ((5, 7), (7, 9), (6, 8), (8, 10), (11, 13), (13, 15), (12, 14), (14,
                                                                          16))
_SHIFT = 4  # cv2's fractional bits: keypoints drawn where they are


def ann_file(split: str) -> str:
    """The annotation file of ``split``, relative to the set's root."""
    return osp.join('annotations', f'person_keypoints_{split}.json')


def _pts(points) -> np.ndarray:
    return np.round(np.asarray(points) * (1 << _SHIFT)).astype(np.int32)


def _figure_mask(keypoints: np.ndarray, unit: float, size: int) -> np.ndarray:
    """The pixels of a figure with ``keypoints`` (17 x 2, pixels) whose
    half-height is ``unit`` pixels."""
    mask = np.zeros((size, size), np.uint8)
    k = keypoints
    limb = max(2, int(round(0.2 * unit)))
    cv2.fillPoly(mask, [_pts(k[[5, 6, 12, 11]])], 1, cv2.LINE_8, _SHIFT)
    neck = (k[5] + k[6]) / 2
    cv2.line(mask, tuple(_pts(neck)), tuple(_pts(k[0])), 1, limb, cv2.LINE_8,
             _SHIFT)
    for a, b in _LIMBS:
        cv2.line(mask, tuple(_pts(k[a])), tuple(_pts(k[b])), 1, limb,
                 cv2.LINE_8, _SHIFT)
    head = (k[3] + k[4]) / 2  # the ears' midpoint, a little above the nose
    cv2.circle(mask, tuple(_pts(head)), int(round(0.25 * unit * 16)), 1, -1,
               cv2.LINE_8, _SHIFT)
    return mask.astype(bool)


def _far_colour(rng, local: np.ndarray) -> np.ndarray:
    colour = rng.uniform(0, 255, size=3)
    while np.abs(colour - local).sum() < 150:
        colour = rng.uniform(0, 255, size=3)
    return colour


def draw_figure_image(
        seed: int,
        image_size: int = 96
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, Dict]:
    """One image (HxWx3 uint8, BGR), its figure's keypoints (17 x 2,
    pixels), their visibility (17: 2 visible, 1 under the covering shape)
    and drawing facts: ``mask`` (the figure's pixels, covered or not),
    ``colour`` (its BGR colour before the +-8% shading) and ``cover`` (the
    covering shape's pixels, or None)."""
    rng = np.random.RandomState(seed)
    size = image_size
    img = textured_background(rng, size)
    pose = _figure(rng)
    unit = rng.uniform(0.24, 0.42) * size  # half-height in pixels
    lean = rng.uniform(-0.35, 0.35)
    rot = np.array([[np.cos(lean), -np.sin(lean)],
                    [np.sin(lean), np.cos(lean)]])
    stretch = np.array([rng.uniform(0.85, 1.15), 1.])
    shape = pose @ rot.T * stretch
    # the drawn figure reaches 0.25 units beyond its keypoints (head, limb
    # ends): shrink it if it would not fit whole, then place it at random
    extent = (shape.max(0) - shape.min(0)).max() + 0.6
    unit = min(unit, (size - 2) / extent)
    shape = shape * unit
    lo, hi = shape.min(0) - 0.3 * unit - 1, shape.max(0) + 0.3 * unit + 1
    centre = [rng.uniform(-lo[d], size - hi[d]) for d in range(2)]
    keypoints = shape + np.asarray(centre)
    mask = _figure_mask(keypoints, unit, size)
    colour = _far_colour(rng, img[mask].mean(0))
    shade = 1 + 0.08 * rng.uniform(-1, 1, size=(size, size))
    img[mask] = colour[None] * shade[mask][:, None]
    visible = np.full(len(keypoints), 2)
    cover = None
    if rng.uniform() < 0.3:  # a shape covers part of the figure
        kind = SHAPE_CLASSES[rng.randint(len(SHAPE_CLASSES) - 1)]  # solid
        at = keypoints[rng.randint(len(keypoints))] + rng.normal(0, 3, 2)
        cover = _shape_mask(rng, kind, size, at, rng.uniform(0.18, 0.3) * unit)
        img[cover] = _far_colour(rng, colour)
        pixel = np.clip(np.round(keypoints).astype(int), 0, size - 1)
        visible[cover[pixel[:, 1], pixel[:, 0]]] = 1
    return (np.clip(img, 0,
                    255).astype(np.uint8), keypoints.astype(np.float32),
            visible, dict(mask=mask, colour=colour, cover=cover))


def _annotation(ann_id, image_id, keypoints, visible, mask) -> Dict:
    ys, xs = np.nonzero(mask)
    x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    flat = np.concatenate([np.round(keypoints, 2), visible[:, None]],
                          axis=1).reshape(-1)
    return dict(
        id=ann_id,
        image_id=image_id,
        category_id=1,
        bbox=[int(x0), int(y0), int(x1 - x0),
              int(y1 - y0)],
        area=int(mask.sum()),
        keypoints=[float(v) for v in flat],
        num_keypoints=int((visible > 0).sum()),
        iscrowd=0)


def write_figures_coco(root: str,
                       num_train: int = DEFAULTS['num_train'],
                       num_val: int = DEFAULTS['num_val'],
                       image_size: int = DEFAULTS['image_size'],
                       seed: int = DEFAULTS['seed']) -> str:
    """Write the set under ``root``: ``{train,val}/NNNNN.png`` and
    ``annotations/person_keypoints_{train,val}.json``, one figure per
    image. Returns ``root``."""
    categories = [
        dict(
            id=1,
            name='person',
            supercategory='person',
            keypoints=list(COCO_KEYPOINTS),
            skeleton=[list(link) for link in COCO_SKELETON])
    ]
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    offset = 0
    for split, count in (('train', num_train), ('val', num_val)):
        os.makedirs(osp.join(root, split), exist_ok=True)
        images, annotations = [], []
        for i in range(count):
            img, keypoints, visible, drawn = draw_figure_image(
                _image_seed(seed, offset, i), image_size)
            name = f'{i:05d}.png'  # in the split's folder, as COCO's
            _write_png(osp.join(root, split, name), img)
            images.append(
                dict(
                    id=i + 1,
                    file_name=name,
                    width=image_size,
                    height=image_size))
            annotations.append(
                _annotation(i + 1, i + 1, keypoints, visible, drawn['mask']))
        offset += count
        _write_coco_json(
            osp.join(root, ann_file(split)), images, annotations, categories)
    return root


def ensure_figures_coco(root: str, **kwargs) -> str:
    """Generate the figures set under ``root`` unless it is already
    there."""
    return ensure_generated(root, ann_file('val'), write_figures_coco,
                            **kwargs)
