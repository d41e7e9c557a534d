"""The depth study's task, generated here (nothing is downloaded), classes
balanced by construction: ``stripes`` (the study's) labels the orientation
of the largest striped disc; ``shapes`` labels crops of the package's shapes
set by the kind of their largest shape."""
from typing import Tuple

import numpy as np
import torch

NUM_CLASSES = 4


def largest_shape_image(seed: int,
                        objects: int = 3,
                        crop: bool = True,
                        size: int = 32,
                        draw_size: int = 64) -> Tuple[np.ndarray, int]:
    """A ``size`` x ``size`` BGR image of the shapes set (1 to ``objects``
    shapes drawn at ``draw_size``) and the kind of its largest shape (-1 if
    nothing was drawn).

    ``crop``: the ``size`` window around the largest shape (shifted by up to
    a quarter of the window, kept inside the image), where other shapes may
    show in part; otherwise the whole image, area-downsampled."""
    import cv2

    from mm_iresnet.datasets.shapes import draw_shapes_image
    img, instances = draw_shapes_image(seed, draw_size, objects)
    if not instances:
        return img[:size, :size], -1
    kind, mask = max(instances, key=lambda inst: inst[1].sum())
    if not crop:
        return cv2.resize(
            img, (size, size), interpolation=cv2.INTER_AREA), kind
    ys, xs = np.nonzero(mask)
    shift = np.random.RandomState(seed).randint(
        -size // 4, size // 4 + 1, size=2)
    top, left = (int(
        np.clip(round(c.mean()) - size // 2 + d, 0, draw_size - size))
                 for c, d in ((ys, shift[0]), (xs, shift[1])))
    return np.ascontiguousarray(img[top:top + size, left:left + size]), kind


def stripes_image(seed: int,
                  objects: int = 2,
                  size: int = 32) -> Tuple[np.ndarray, int]:
    """A ``size`` x ``size`` BGR image of 1 to ``objects`` discs filled with
    stripes (sinusoidal gratings of random frequency, phase, contrast and
    colour) on the shapes set's textured background, and the orientation
    class (0, 45, 90 or 135 degrees, +- 10) of the **largest** disc.

    Discs never share an orientation class, and a smaller one is at most
    0.8 times as wide as the largest."""
    from mm_iresnet.datasets.shapes import textured_background
    rng = np.random.RandomState(seed)
    img = textured_background(rng, size)
    count = rng.randint(1, objects + 1)
    kinds = rng.permutation(NUM_CLASSES)[:count]
    radii = [rng.uniform(7, 11)]
    radii += [radii[0] * rng.uniform(0.45, 0.8) for _ in kinds[1:]]
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    for kind, radius in zip(kinds[::-1], radii[::-1]):  # largest on top
        theta = np.deg2rad(45 * kind + rng.uniform(-10, 10))
        freq = rng.uniform(0.15, 0.3)  # cycles per pixel
        wave = np.cos(2 * np.pi * freq *
                      (xx * np.cos(theta) + yy * np.sin(theta)) +
                      rng.uniform(0, 2 * np.pi))
        cy, cx = rng.uniform(radius * 0.6, size - radius * 0.6, size=2)
        disc = np.clip(radius + 0.5 - np.hypot(yy - cy, xx - cx), 0, 1)
        mean = rng.uniform(60, 200, size=3)
        amp = rng.uniform(25, 70) * rng.choice([-1, 1], size=3) * \
            rng.uniform(0.5, 1, size=3)
        patch = mean + wave[..., None] * amp
        img = img * (1 - disc[..., None]) + patch * disc[..., None]
    img += rng.normal(0, 8, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), int(kinds[0])


def make_task(num: int,
              split: str,
              data_seed: int = 0,
              objects: int = 2,
              crop: bool = True,
              task: str = 'stripes') -> Tuple[torch.Tensor, torch.Tensor]:
    """``num`` balanced images (N, 3, 32, 32 float, normalised) and labels
    for ``split`` 'train' or 'heldout' of ``task`` 'stripes'
    (:func:`stripes_image`) or 'shapes' (:func:`largest_shape_image`); the
    two splits draw from disjoint seeds."""
    if num % NUM_CLASSES:
        raise ValueError(f'{num} images cannot be split evenly into '
                         f'{NUM_CLASSES} classes')
    if task not in ('stripes', 'shapes'):
        raise ValueError(f"task must be 'stripes' or 'shapes', got {task!r}")
    if split not in ('train', 'heldout'):
        raise ValueError(f"split must be 'train' or 'heldout', got {split!r}")
    per_class = num // NUM_CLASSES
    base = data_seed * 10**7 + (0 if split == 'train' else 5 * 10**6)
    counts = [0] * NUM_CLASSES
    images, labels = [], []
    candidate = base
    while min(counts) < per_class:
        img, kind = largest_shape_image(candidate, objects, crop) \
            if task == 'shapes' else stripes_image(candidate, objects)
        candidate += 1
        if kind < 0 or counts[kind] >= per_class:
            continue
        counts[kind] += 1
        images.append(img)
        labels.append(kind)
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()
    return (x - 127.5) / 64, torch.tensor(labels)
