"""The data of the semantic segmentation demo
(configs/demo/fcn_iresnet18_shapes_seg.py): the generated set is the shapes
set as label maps, the shuffled-label control pairs every image with
another image's map, and the dataset says what it needs."""
import json
import os.path as osp
import re

import cv2
import numpy as np
import pytest

from mm_iresnet.datasets.shapes import (SHAPE_CLASSES, write_shapes_coco,
                                        write_shapes_seg)
from .helpers import nonempty

pytest.importorskip('mmseg')

SMALL = dict(num_train=6, num_val=3, image_size=64, seed=5)


def test_label_maps_are_the_coco_masks(tmp_path):
    """The oracle is the COCO writer's output decoded by pycocotools: the
    same images, and each label map is 0 off the shapes and 1 + the COCO
    category index (category_id) on each instance mask."""
    from pycocotools import mask as mask_utils
    coco = write_shapes_coco(str(tmp_path / 'coco'), **SMALL)
    seg = write_shapes_seg(str(tmp_path / 'seg'), **SMALL)
    for split, count in (('train', 6), ('val', 3)):
        data = json.load(open(osp.join(coco, 'annotations', f'{split}.json')))
        for image in nonempty(data['images']):
            i = int(osp.basename(image['file_name'])[:-4])
            assert open(osp.join(coco, image['file_name']), 'rb').read() == \
                open(osp.join(seg, 'img_dir', split, f'{i:05d}.png'),
                     'rb').read()
            expected = np.zeros((64, 64), np.uint8)
            for ann in data['annotations']:
                if ann['image_id'] == image['id']:
                    expected[mask_utils.decode(ann['segmentation']) > 0] = \
                        ann['category_id']
            labels = cv2.imread(
                osp.join(seg, 'ann_dir', split, f'{i:05d}.png'),
                cv2.IMREAD_UNCHANGED)
            assert labels.dtype == np.uint8 and labels.shape == (64, 64)
            assert np.array_equal(labels, expected)
        assert len(data['images']) == count
    assert data['categories'][-1]['id'] == len(SHAPE_CLASSES)


def _build(cfg):
    """Built in mmseg's scope, whatever scope an earlier test left."""
    from mmengine.registry import DefaultScope
    from mmseg.registry import DATASETS

    import mm_iresnet.datasets.shapes_seg_dataset  # noqa: F401
    with DefaultScope.overwrite_default_scope('mmseg'):
        return DATASETS.build(cfg)


def _dataset(root, **kwargs):
    return _build(
        dict(
            type='ShapesSegDataset',
            data_root=str(root),
            data_prefix=dict(
                img_path='img_dir/train', seg_map_path='ann_dir/train'),
            generate=SMALL,
            pipeline=[],
            **kwargs))


def test_shuffled_labels_pair_each_image_with_another_map(tmp_path):
    true = _dataset(tmp_path / 's')
    pairs = [(d['img_path'], d['seg_map_path']) for d in true.load_data_list()]
    assert len(pairs) == 6
    assert all(osp.basename(i) == osp.basename(m) for i, m in nonempty(pairs))
    for seed in (0, 1, 2):
        shuffled = _dataset(tmp_path / 's', shuffle_labels=seed)
        got = [(d['img_path'], d['seg_map_path'])
               for d in shuffled.load_data_list()]
        assert [i for i, _ in got] == [i for i, _ in pairs]
        assert sorted(m for _, m in got) == sorted(m for _, m in pairs)
        assert all(
            osp.basename(i) != osp.basename(m) for i, m in nonempty(got))
        again = _dataset(tmp_path / 's', shuffle_labels=seed)
        assert [d['seg_map_path'] for d in again.load_data_list()] == \
            [m for _, m in got]


def test_dataset_without_data_root_says_what_it_needs():
    with pytest.raises(ValueError, match='needs data_root'):
        _build(dict(type='ShapesSegDataset', pipeline=[]))


@pytest.mark.slow
def test_demo_config_trains_and_evaluates_through_the_train_tool(
        root, tmp_path):
    """Two iterations of the demo config through tools/train.py on a tiny
    generated set: mmseg's dataset, pipeline, model, IoUMetric and the
    checkpoint, end to end."""
    log = _run(
        root,
        tmp_path,
        'work', [
            'model.data_preprocessor.size=(64,64)', 'param_scheduler.0.end=1',
            'param_scheduler.1.begin=1', 'train_dataloader.batch_size=2',
            'val_dataloader.batch_size=2', 'default_hooks.logger.interval=1'
        ],
        iters=2,
        generate=dict(num_train=4, num_val=2, image_size=64, seed=1))
    assert 'Iter(train) [2/2]' in log and 'mIoU:' in log, log[-3000:]
    assert (tmp_path / 'work' / 'iter_2.pth').exists()


def _run(root, tmp_path, name, extra=(), iters=300, generate=None):
    """A run of the demo through tools/train.py (``iters`` iterations,
    validated and saved at the end, on the set ``generate`` describes: by
    default 1200 training images and 100 val); its log."""
    from .test_tools import run_tool
    data_root = str(tmp_path / 'data') + '/'
    generate = generate or dict(
        num_train=1200, num_val=100, image_size=128, seed=0)
    options = [
        f'{loader}.dataset.{key}'
        for loader in ('train_dataloader', 'val_dataloader')
        for key in [f'data_root={data_root}'] +
        [f'generate.{k}={v}' for k, v in generate.items()]
    ] + [
        f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
        f'param_scheduler.1.end={iters}',
        f'default_hooks.checkpoint.interval={iters}',
        'default_hooks.logger.interval=50'
    ] + list(extra)
    proc = run_tool(
        root,
        [
            osp.join(root, 'tools', 'train.py'),
            osp.join(root, 'configs', 'demo', 'fcn_iresnet18_shapes_seg.py'),
            '--work-dir',
            str(tmp_path / name), '--cfg-options'
        ] + options,
        cwd=str(tmp_path))
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    return log


def _train(root, tmp_path, name, extra=()):
    """A short run of the demo; its mIoU on val."""
    log = _run(root, tmp_path, name, extra)
    scores = re.findall(r'mIoU: ([0-9.]+)', log)
    assert scores, log[-3000:]
    return float(scores[-1])


@pytest.mark.slow
@pytest.mark.timeout(1500)  # two trainings: ~4 min idle, far more loaded
def test_demo_reaches_miou_above_its_shuffled_control(root, tmp_path):
    """A short run of the demo (300 iterations of 8 images, half its
    schedule), twice: the true label maps, and each training image given
    another image's map (val untouched). The control cannot tell where a
    shape is, so it learns to predict the background everywhere, whose mIoU
    (background's IoU over five classes) is about 18; the true run (46 on
    the demo's own val split when written) must be far above it."""
    learnt = _train(root, tmp_path, 'true')
    control = _train(root, tmp_path, 'control',
                     ['train_dataloader.dataset.shuffle_labels=0'])
    assert control < 20, control
    assert learnt > control + 12, (learnt, control)
