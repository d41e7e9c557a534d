"""Deterministic generator of the *moving skeletons* demo set.

The moving-shapes task for skeleton-based recognition: each clip holds the
17 COCO keypoints of a stick figure, in a random pose, that moves left,
right, up or down, or comes closer or goes away (the paths of
:func:`~mm_iresnet.datasets.moving_shapes.motion_path`), next to a second,
still figure that distracts. Keypoints jitter and carry detector-like
scores. The label is the motion: no single frame tells left from right, up
from down or closer from away.

Written as mmaction2's skeleton annotation file (what its ``PoseDataset``
reads, the layout of ``ntu60_2d.pkl``): a pickle of
``dict(split=dict(train=[...], val=[...]), annotations=[...])``, each
annotation ``frame_dir, label, img_shape, original_shape, total_frames,
keypoint (M x T x 17 x 2), keypoint_score (M x T x 17)``.
"""
import os
import os.path as osp
import pickle

import numpy as np

from .moving_shapes import MOTION_CLASSES, motion_path
from .shapes import ensure_generated

__all__ = [
    'ANN_FILE', 'draw_skeleton_clip', 'write_moving_skeletons',
    'ensure_moving_skeletons'
]

ANN_FILE = 'moving_skeletons.pkl'
DEFAULTS = dict(
    num_train=480, num_val=120, num_frames=16, image_size=64, seed=0)

# COCO-17 keypoints of a figure facing the camera (its left on the image's
# right), in units of the figure's half-height, y down, centred on the body;
# elbows/wrists and knees/ankles are placed by random limb angles.
_HEAD = np.array([(0, -0.95), (0.08, -1.02), (-0.08, -1.02), (0.16, -0.98),
                  (-0.16, -0.98)])
_SHOULDERS = np.array([(0.3, -0.7), (-0.3, -0.7)])
_HIPS = np.array([(0.18, 0.05), (-0.18, 0.05)])


def _limb(rng, roots, length, spread):
    """Two-segment limbs from ``roots`` (left, right) at random angles
    (radians from straight down, outwards positive): joints and ends."""
    side = np.array([1., -1.])[:, None]  # the left limb bends to +x
    angle = rng.uniform(*spread, size=(2, 1))
    bend = angle + rng.uniform(-0.6, 0.6, size=(2, 1))
    joint = roots + length * side * np.hstack([np.sin(angle), np.cos(angle)])
    end = joint + length * side * np.hstack([np.sin(bend), np.cos(bend)])
    return joint, end


def _figure(rng) -> np.ndarray:
    """The 17 x 2 keypoints of one random pose (unit half-height)."""
    elbows, wrists = _limb(rng, _SHOULDERS, 0.35, (0.1, 2.2))
    knees, ankles = _limb(rng, _HIPS, 0.48, (0.0, 0.5))
    # COCO order: head, then (left, right) shoulders, elbows, wrists, hips,
    # knees, ankles
    return np.concatenate(
        [_HEAD, _SHOULDERS, elbows, wrists, _HIPS, knees, ankles])


def draw_skeleton_clip(seed: int,
                       label: int,
                       num_frames: int = 16,
                       image_size: int = 64):
    """Keypoints (2 x T x 17 x 2, pixels) and scores (2 x T x 17) of one
    clip whose motion is ``label``: the moving figure, then the still one."""
    rng = np.random.RandomState(seed)
    size = image_size
    centres, radii = motion_path(rng, MOTION_CLASSES[label], num_frames, size)
    pose = _figure(rng)
    still = _figure(rng) * 0.1 * size + rng.uniform(0.15, 0.85, 2) * size
    moving = pose[None] * radii[:, None, None] + centres[:, None]
    keypoint = np.stack([moving, np.broadcast_to(still, moving.shape)])
    keypoint = keypoint + rng.normal(0, 0.01 * size, size=keypoint.shape)
    score = rng.uniform(0.5, 1.0, size=keypoint.shape[:3])
    return keypoint.astype(np.float32), score.astype(np.float32)


def write_moving_skeletons(root: str,
                           num_train: int = DEFAULTS['num_train'],
                           num_val: int = DEFAULTS['num_val'],
                           num_frames: int = DEFAULTS['num_frames'],
                           image_size: int = DEFAULTS['image_size'],
                           seed: int = DEFAULTS['seed']) -> str:
    """Write ``root/moving_skeletons.pkl`` with splits 'train' and 'val';
    labels cycle through the classes, so splits are balanced."""
    split, annotations, offset = {}, [], 0
    for name, count in (('train', num_train), ('val', num_val)):
        split[name] = []
        for i in range(count):
            label = i % len(MOTION_CLASSES)
            keypoint, score = draw_skeleton_clip(seed * 1_000_003 + offset + i,
                                                 label, num_frames, image_size)
            frame_dir = f'{name}/{i:05d}'
            split[name].append(frame_dir)
            annotations.append(
                dict(
                    frame_dir=frame_dir,
                    label=label,
                    img_shape=(image_size, image_size),
                    original_shape=(image_size, image_size),
                    total_frames=num_frames,
                    keypoint=keypoint,
                    keypoint_score=score))
        offset += count
    os.makedirs(root, exist_ok=True)
    with open(osp.join(root, ANN_FILE), 'wb') as f:
        pickle.dump(dict(split=split, annotations=annotations), f)
    return root


def ensure_moving_skeletons(root: str, **kwargs) -> str:
    """Generate the set under ``root`` unless it is already there."""
    return ensure_generated(root, ANN_FILE, write_moving_skeletons, **kwargs)
