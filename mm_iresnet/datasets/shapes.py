"""Deterministic generator of the *shapes* detection/segmentation demo set.

Images show a few solid shapes (rectangle, ellipse, triangle, ring) on a
textured background, with COCO-format boxes and instance masks (RLE), or the
same images with semantic label maps (mmseg's layout). Every
image is drawn from its own seeded generator, so the same seed gives the same
bytes whatever the order or the machine. Nothing is downloaded.
"""
import json
import os
import os.path as osp
import shutil
import tempfile
from typing import Dict, List, Tuple

import cv2
import numpy as np

__all__ = [
    'SHAPE_CLASSES', 'draw_shapes_image', 'textured_background',
    'write_shapes_coco', 'ensure_shapes_coco', 'write_shapes_seg',
    'ensure_shapes_seg', 'ensure_generated'
]

SHAPE_CLASSES = ('rectangle', 'ellipse', 'triangle', 'ring')
#: default sizes of the demo set
DEFAULTS = dict(
    num_train=1200, num_val=200, image_size=128, seed=0, max_objects=3)


def textured_background(rng: np.random.RandomState, size: int) -> np.ndarray:
    """A smooth colour gradient with blotchy low-frequency texture and
    pixel noise, so shapes must be found by form, not by a flat colour."""
    base = rng.uniform(40, 200, size=3)
    ramp = np.linspace(-1, 1, size, dtype=np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    gradient = np.cos(angle) * ramp[None, :] + np.sin(angle) * ramp[:, None]
    blotches = cv2.resize(
        rng.uniform(-1, 1, size=(6, 6, 3)).astype(np.float32), (size, size),
        interpolation=cv2.INTER_CUBIC)
    img = base + 30 * gradient[..., None] + 25 * blotches
    img += rng.normal(0, 6, size=(size, size, 3))
    return img


def _shape_mask(rng, kind: str, size: int, center, radius) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    cx, cy = center
    angle = rng.uniform(0, 180)
    if kind == 'rectangle':
        w, h = radius * 2, radius * 2 * rng.uniform(0.45, 0.9)
        box = cv2.boxPoints(((cx, cy), (w, h), angle))
        cv2.fillPoly(mask, [np.round(box).astype(np.int32)], 1)
    elif kind == 'ellipse':
        axes = (int(radius), int(radius * rng.uniform(0.5, 0.85)))
        cv2.ellipse(mask, (int(cx), int(cy)), axes, angle, 0, 360, 1, -1)
    elif kind == 'triangle':
        start = np.deg2rad(angle)
        pts = [(cx + radius * np.cos(start + k * 2 * np.pi / 3),
                cy + radius * np.sin(start + k * 2 * np.pi / 3))
               for k in range(3)]
        cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)
    elif kind == 'ring':
        cv2.circle(mask, (int(cx), int(cy)), int(radius), 1, -1)
        cv2.circle(mask, (int(cx), int(cy)), int(radius * 0.55), 0, -1)
    else:
        raise ValueError(f'unknown shape {kind!r}')
    return mask.astype(bool)


def draw_shapes_image(
        seed: int,
        image_size: int = 128,
        max_objects: int = 3
) -> Tuple[np.ndarray, List[Tuple[int, np.ndarray]]]:
    """One image (HxWx3 uint8, BGR) and its (class index, mask) instances.

    Shapes never overlap, so every mask is whole.
    """
    rng = np.random.RandomState(seed)
    img = textured_background(rng, image_size)
    occupied = np.zeros((image_size, image_size), bool)
    instances = []
    for _ in range(rng.randint(1, max_objects + 1)):
        for _attempt in range(20):
            kind = int(rng.randint(len(SHAPE_CLASSES)))
            radius = rng.uniform(0.09, 0.22) * image_size
            margin = radius + 2
            center = rng.uniform(margin, image_size - margin, size=2)
            mask = _shape_mask(rng, SHAPE_CLASSES[kind], image_size, center,
                               radius)
            grown = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5))) > 0
            if mask.sum() > 30 and not (grown & occupied).any():
                break
        else:
            continue
        # a colour far from the local background
        local = img[mask].mean(0)
        colour = rng.uniform(0, 255, size=3)
        while np.abs(colour - local).sum() < 150:
            colour = rng.uniform(0, 255, size=3)
        shade = 1 + 0.15 * rng.uniform(-1, 1, size=(image_size, image_size))
        img[mask] = (colour[None] * shade[mask][:, None])
        occupied |= mask
        instances.append((kind, mask))
    return np.clip(img, 0, 255).astype(np.uint8), instances


def _coco_annotation(ann_id, image_id, kind, mask) -> Dict:
    from pycocotools import mask as mask_utils
    ys, xs = np.nonzero(mask)
    x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle['counts'] = rle['counts'].decode('ascii')
    return dict(
        id=ann_id,
        image_id=image_id,
        category_id=kind + 1,
        bbox=[int(x0), int(y0), int(x1 - x0),
              int(y1 - y0)],
        area=int(mask.sum()),
        segmentation=rle,
        iscrowd=0)


def _image_seed(seed: int, split_offset: int, index: int) -> int:
    """The seed of one generated item (image, clip, figure): seeded alone,
    so the same seed gives the same bytes whatever the order."""
    return seed * 1_000_003 + split_offset + index


def _write_png(path: str, array: np.ndarray):
    ok, buf = cv2.imencode('.png', array)
    assert ok
    with open(path, 'wb') as f:
        f.write(buf.tobytes())


def _write_coco_json(path: str, images: List[Dict], annotations: List[Dict],
                     categories: List[Dict]):
    """A COCO-format annotation file (keys sorted: the same bytes for the
    same set)."""
    with open(path, 'w') as f:
        json.dump(
            dict(
                images=images, annotations=annotations, categories=categories),
            f,
            sort_keys=True)


def write_shapes_coco(root: str,
                      num_train: int = DEFAULTS['num_train'],
                      num_val: int = DEFAULTS['num_val'],
                      image_size: int = DEFAULTS['image_size'],
                      seed: int = DEFAULTS['seed'],
                      max_objects: int = DEFAULTS['max_objects']) -> str:
    """Write the set under ``root``: ``{train,val}/*.png`` and
    ``annotations/{train,val}.json``. Returns ``root``."""
    categories = [
        dict(id=i + 1, name=n, supercategory='shape')
        for i, n in enumerate(SHAPE_CLASSES)
    ]
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    offset = 0
    for split, count in (('train', num_train), ('val', num_val)):
        os.makedirs(osp.join(root, split), exist_ok=True)
        images, annotations = [], []
        for i in range(count):
            img, instances = draw_shapes_image(
                _image_seed(seed, offset, i), image_size, max_objects)
            name = f'{split}/{i:05d}.png'
            _write_png(osp.join(root, name), img)
            images.append(
                dict(
                    id=i + 1,
                    file_name=name,
                    width=image_size,
                    height=image_size))
            for kind, mask in instances:
                annotations.append(
                    _coco_annotation(len(annotations) + 1, i + 1, kind, mask))
        offset += count
        _write_coco_json(
            osp.join(root, 'annotations', f'{split}.json'), images,
            annotations, categories)
    return root


def write_shapes_seg(root: str,
                     num_train: int = DEFAULTS['num_train'],
                     num_val: int = DEFAULTS['num_val'],
                     image_size: int = DEFAULTS['image_size'],
                     seed: int = DEFAULTS['seed'],
                     max_objects: int = DEFAULTS['max_objects']) -> str:
    """Write the images of :func:`write_shapes_coco` (same seed, same
    pictures) with semantic label maps, in mmseg's layout:
    ``img_dir/{train,val}/NNNNN.png`` and ``ann_dir/{train,val}/NNNNN.png``,
    where a label map holds 0 for the background and ``1 + class index`` on
    each shape. Returns ``root``."""
    offset = 0
    for split, count in (('train', num_train), ('val', num_val)):
        for kind in ('img_dir', 'ann_dir'):
            os.makedirs(osp.join(root, kind, split), exist_ok=True)
        for i in range(count):
            img, instances = draw_shapes_image(
                _image_seed(seed, offset, i), image_size, max_objects)
            labels = np.zeros((image_size, image_size), np.uint8)
            for cls, mask in instances:
                labels[mask] = cls + 1
            _write_png(osp.join(root, 'img_dir', split, f'{i:05d}.png'), img)
            _write_png(
                osp.join(root, 'ann_dir', split, f'{i:05d}.png'), labels)
        offset += count
    return root


def ensure_generated(root: str, marker: str, writer, **kwargs) -> str:
    """Run ``writer(folder, **kwargs)`` unless ``root/marker`` exists.

    The set is written into a temporary folder renamed into place, so
    parallel processes (distributed training) never read a half-written set
    and a killed generation leaves nothing behind.
    """
    if osp.exists(osp.join(root, marker)):
        return root
    parent = osp.dirname(osp.abspath(root.rstrip('/')))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.generating-', dir=parent)
    try:
        writer(tmp, **kwargs)
        try:
            os.rename(tmp, root.rstrip('/'))
        except OSError:
            if not osp.exists(osp.join(root, marker)):  # not a lost race
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def ensure_shapes_coco(root: str, **kwargs) -> str:
    """Generate the shapes set under ``root`` unless it is already there."""
    return ensure_generated(root, osp.join('annotations', 'val.json'),
                            write_shapes_coco, **kwargs)


def ensure_shapes_seg(root: str, **kwargs) -> str:
    """Generate the shapes segmentation set under ``root`` unless it is
    already there."""
    return ensure_generated(root, osp.join('ann_dir', 'val'), write_shapes_seg,
                            **kwargs)
