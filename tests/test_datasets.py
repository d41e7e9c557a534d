"""The generated demo sets: deterministic, valid annotations, built once."""
import hashlib
import os
import os.path as osp

import numpy as np
import pytest

from mm_iresnet.datasets import (MOTION_CLASSES, SHAPE_CLASSES,
                                 ensure_moving_shapes, ensure_shapes_coco,
                                 write_moving_shapes, write_moving_skeletons,
                                 write_shapes_coco)


def tree_digest(root):
    digest = hashlib.sha256()
    for folder, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            path = osp.join(folder, name)
            digest.update(osp.relpath(path, root).encode())
            digest.update(open(path, 'rb').read())
    return digest.hexdigest()


@pytest.mark.parametrize('writer,kwargs', [
    (write_shapes_coco, dict(num_train=6, num_val=3, image_size=64)),
    (write_moving_shapes, dict(num_train=6, num_val=3, num_frames=5)),
    (write_moving_skeletons, dict(num_train=6, num_val=3, num_frames=5)),
])
def test_same_seed_same_bytes(tmp_path, writer, kwargs):
    a = tree_digest(writer(str(tmp_path / 'a'), seed=1, **kwargs))
    b = tree_digest(writer(str(tmp_path / 'b'), seed=1, **kwargs))
    c = tree_digest(writer(str(tmp_path / 'c'), seed=2, **kwargs))
    assert a == b != c


def test_shapes_coco_annotations_are_valid(tmp_path):
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO
    root = write_shapes_coco(
        str(tmp_path / 's'), num_train=20, num_val=5, image_size=96)
    coco = COCO(osp.join(root, 'annotations', 'train.json'))
    assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == \
        list(SHAPE_CLASSES)
    assert len(coco.getImgIds()) == 20
    anns = coco.loadAnns(coco.getAnnIds())
    assert len(anns) >= 20
    assert {a['category_id'] for a in anns} == {1, 2, 3, 4}
    for ann in anns:
        img = coco.loadImgs(ann['image_id'])[0]
        x, y, w, h = ann['bbox']
        assert w > 2 and h > 2 and x >= 0 and y >= 0
        assert x + w <= img['width'] and y + h <= img['height']
        mask = mask_utils.decode(ann['segmentation'])
        assert mask.sum() == ann['area']
        ys, xs = np.nonzero(mask)
        assert (xs.min(), ys.min(), xs.max() + 1 - xs.min(),
                ys.max() + 1 - ys.min()) == (x, y, w, h)
        assert osp.exists(osp.join(root, img['file_name']))
    # no two instances of an image overlap
    for image_id in coco.getImgIds():
        masks = [
            mask_utils.decode(a['segmentation'])
            for a in coco.loadAnns(coco.getAnnIds(imgIds=image_id))
        ]
        assert sum(m.astype(int) for m in masks).max() <= 1


def test_moving_shapes_annotations_are_valid(tmp_path):
    root = write_moving_shapes(
        str(tmp_path / 'm'), num_train=12, num_val=6, num_frames=6)
    for split, count in (('train', 12), ('val', 6)):
        lines = open(osp.join(root, f'{split}_list.txt')).read().split('\n')
        lines = [line.split() for line in lines if line]
        assert len(lines) == count
        labels = [int(line[2]) for line in lines]
        assert sorted(set(labels)) == list(range(len(MOTION_CLASSES)))
        for frame_dir, total, _ in lines:
            frames = sorted(os.listdir(osp.join(root, frame_dir)))
            assert frames == [
                f'img_{t:05d}.png' for t in range(1,
                                                  int(total) + 1)
            ]


def _shape_track(frames):
    """Centroid and area of the moving shape in each frame: its pixels are
    the only ones of one exact colour (background and distractor carry
    noise)."""
    track = []
    for frame in frames:
        pixels = frame.reshape(-1, 3)
        values, counts = np.unique(pixels, axis=0, return_counts=True)
        colour = values[counts.argmax()]
        mask = (frame == colour).all(-1)
        ys, xs = np.nonzero(mask)
        track.append((xs.mean(), ys.mean(), mask.sum()))
    return np.array(track)


@pytest.mark.parametrize('seed', [3, 11])
def test_motion_is_the_label(seed):
    from mm_iresnet.datasets.moving_shapes import draw_moving_clip
    for label, motion in enumerate(MOTION_CLASSES):
        track = _shape_track(draw_moving_clip(seed, label, 8, 64))
        dx, dy, darea = track[-1] - track[0]
        expected = {
            'left': dx < -8,
            'right': dx > 8,
            'up': dy < -8,
            'down': dy > 8,
            'closer': darea > 50,
            'away': darea < -50
        }[motion]
        assert expected, (motion, dx, dy, darea)
        if motion in ('closer', 'away'):
            assert abs(dx) < 2 and abs(dy) < 2


def test_ensure_generates_once(tmp_path):
    root = str(tmp_path / 'set')
    ensure_shapes_coco(root, num_train=2, num_val=1, image_size=32)
    marker = osp.join(root, 'annotations', 'val.json')
    stamp = os.stat(marker).st_mtime_ns
    ensure_shapes_coco(root, num_train=2, num_val=1, image_size=32)
    assert os.stat(marker).st_mtime_ns == stamp
    assert not [p for p in os.listdir(tmp_path) if p.startswith('.gen')]
    video = str(tmp_path / 'video')
    ensure_moving_shapes(video, num_train=2, num_val=1, num_frames=3)
    assert osp.exists(osp.join(video, 'val_list.txt'))
