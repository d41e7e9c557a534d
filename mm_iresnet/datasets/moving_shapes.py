"""Deterministic generator of the *moving shapes* video demo set.

Each clip shows one shape (of the four of the shapes set) on a textured
background, moving left, right, up or down, or growing (coming closer) or
shrinking (going away); a second, still shape distracts. The label is the
motion, so no single frame tells it — a temporal model can learn it and a
per-frame one cannot: the analogue of Something-Something-v2.

Written in mmaction2's raw-frame layout: ``{split}/{clip}/img_00001.png`` ...
and ``{split}_list.txt`` lines ``frame_dir total_frames label``.
"""
import os
import os.path as osp
from typing import List

import numpy as np

from .shapes import (SHAPE_CLASSES, _image_seed, _shape_mask, _write_png,
                     ensure_generated, textured_background)

__all__ = [
    'MOTION_CLASSES', 'motion_path', 'draw_moving_clip', 'write_moving_shapes',
    'ensure_moving_shapes'
]

MOTION_CLASSES = ('left', 'right', 'up', 'down', 'closer', 'away')
DEFAULTS = dict(
    num_train=480, num_val=120, num_frames=12, image_size=64, seed=0)


def _colour_for(rng, img, mask):
    local = img[mask].mean(0)
    colour = rng.uniform(0, 255, size=3)
    while np.abs(colour - local).sum() < 150:
        colour = rng.uniform(0, 255, size=3)
    return colour


def motion_path(rng: np.random.RandomState, motion: str, num_frames: int,
                size: int):
    """Centres (T x 2) and radii (T) of an object of a random size and place
    making ``motion`` (one of :data:`MOTION_CLASSES`) across ``num_frames``
    in a ``size`` x ``size`` image: it travels 35-50% of the image, or grows
    or shrinks 1.6-2x in place."""
    radius = rng.uniform(0.12, 0.18) * size
    travel = rng.uniform(0.35, 0.5) * size
    scale = rng.uniform(1.6, 2.0)
    centre = rng.uniform(0.3, 0.7, size=2) * size
    step = {'left': (-1, 0), 'right': (1, 0), 'up': (0, -1), 'down': (0, 1)}
    if motion in step:
        direction = np.array(step[motion], float)
        start = np.clip(centre - direction * travel / 2, radius, size - radius)
        end = np.clip(start + direction * travel, radius, size - radius)
        radii = np.full(num_frames, radius)
    else:
        start = end = centre
        small, big = radius * 0.8, min(radius * 0.8 * scale, 0.3 * size)
        radii = np.linspace(small, big, num_frames) if motion == 'closer' \
            else np.linspace(big, small, num_frames)
    alpha = np.arange(num_frames)[:, None] / max(num_frames - 1, 1)
    return start + (end - start) * alpha, radii


def draw_moving_clip(seed: int,
                     label: int,
                     num_frames: int = 12,
                     image_size: int = 64) -> List[np.ndarray]:
    """Frames (HxWx3 uint8, BGR) of one clip whose motion is ``label``."""
    rng = np.random.RandomState(seed)
    size = image_size
    background = textured_background(rng, size)
    kind = SHAPE_CLASSES[rng.randint(len(SHAPE_CLASSES))]
    centres, radii = motion_path(rng, MOTION_CLASSES[label], num_frames, size)
    # the shape keeps its own random orientation: replay the same draws
    shape_seed = rng.randint(2**31)
    distractor = SHAPE_CLASSES[rng.randint(len(SHAPE_CLASSES))]
    d_centre = rng.uniform(0.15, 0.85, size=2) * size
    d_mask = _shape_mask(rng, distractor, size, d_centre, 0.1 * size)
    base = background.copy()
    base[d_mask] = _colour_for(rng, base, d_mask)
    colour = None
    frames = []
    for t in range(num_frames):
        mask = _shape_mask(
            np.random.RandomState(shape_seed), kind, size, centres[t],
            radii[t])
        if colour is None:
            colour = _colour_for(rng, base, mask)
        frame = base + rng.normal(0, 4, size=base.shape)
        frame[mask] = colour
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return frames


def write_moving_shapes(root: str,
                        num_train: int = DEFAULTS['num_train'],
                        num_val: int = DEFAULTS['num_val'],
                        num_frames: int = DEFAULTS['num_frames'],
                        image_size: int = DEFAULTS['image_size'],
                        seed: int = DEFAULTS['seed']) -> str:
    """Write the set under ``root`` (raw frames + ``{split}_list.txt``);
    labels cycle through the classes, so splits are balanced."""
    offset = 0
    for split, count in (('train', num_train), ('val', num_val)):
        lines = []
        for i in range(count):
            label = i % len(MOTION_CLASSES)
            clip = f'{split}/{i:05d}'
            os.makedirs(osp.join(root, clip), exist_ok=True)
            frames = draw_moving_clip(
                _image_seed(seed, offset, i), label, num_frames, image_size)
            for t, frame in enumerate(frames, start=1):
                _write_png(osp.join(root, clip, f'img_{t:05d}.png'), frame)
            lines.append(f'{clip} {num_frames} {label}')
        offset += count
        with open(osp.join(root, f'{split}_list.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
    return root


def ensure_moving_shapes(root: str, **kwargs) -> str:
    """Generate the set under ``root`` unless it is already there."""
    return ensure_generated(root, 'val_list.txt', write_moving_shapes,
                            **kwargs)
