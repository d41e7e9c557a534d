"""Skeleton-based recognition: the generated moving-skeletons set in
mmaction2's pose format, the PoseC3D demo, configs/skeleton/."""
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mm_iresnet.datasets import MOTION_CLASSES, write_moving_skeletons
from mm_iresnet.datasets.moving_skeletons import ANN_FILE, draw_skeleton_clip
from .helpers import nonempty

DEMO = 'configs/demo/posec3d_iresnet_moving_skeletons.py'
POSEC3D = 'posec3d/slowonly_r50_8xb16-u48-240e_ntu60-xsub-keypoint.py'
RGBPOSE = 'posec3d/rgbpose_conv3d/'


def test_annotation_file_is_mmaction_pose_format(tmp_path):
    """mmaction2's own PoseDataset reads the file, split by split."""
    from mmaction.datasets import PoseDataset
    root = write_moving_skeletons(
        str(tmp_path), num_train=12, num_val=6, num_frames=10, image_size=48)
    with open(osp.join(root, ANN_FILE), 'rb') as f:
        data = pickle.load(f)
    assert sorted(data['split']) == ['train', 'val']
    assert len(data['annotations']) == 18
    for ann in data['annotations']:
        assert ann['keypoint'].shape == (2, 10, 17, 2)
        assert ann['keypoint'].dtype == np.float32
        assert ann['keypoint_score'].shape == (2, 10, 17)
        assert ann['img_shape'] == ann['original_shape'] == (48, 48)
        assert ann['total_frames'] == 10
    for split, count in (('train', 12), ('val', 6)):
        dataset = PoseDataset(osp.join(root, ANN_FILE), [], split=split)
        assert len(dataset) == count
        labels = [dataset.get_data_info(i)['label'] for i in range(count)]
        assert sorted(set(labels)) == list(range(len(MOTION_CLASSES)))


@pytest.mark.parametrize('seed', [3, 11])
def test_skeleton_motion_is_the_label(seed):
    """The moving figure (person 0) travels or grows as its label says;
    the distractor (person 1) stays put."""
    for label, motion in enumerate(MOTION_CLASSES):
        kp, score = draw_skeleton_clip(seed, label, 8, 64)
        assert ((score > 0.4) & (score <= 1)).all()
        centre = kp[0].mean(1)  # T x 2
        spread = kp[0, :, :, 1].max(1) - kp[0, :, :, 1].min(1)  # height
        dx, dy = centre[-1] - centre[0]
        grow = spread[-1] - spread[0]
        expected = {
            'left': dx < -8,
            'right': dx > 8,
            'up': dy < -8,
            'down': dy > 8,
            'closer': grow > 4,
            'away': grow < -4
        }[motion]
        assert expected, (motion, dx, dy, grow)
        still = kp[1].mean(1)
        assert np.abs(still - still[0]).max() < 2


def _demo_cfg(root, data_root):
    cfg = Config.fromfile(osp.join(root, DEMO))
    for loader in ('train_dataloader', 'val_dataloader'):
        cfg[loader].dataset.data_root = str(data_root)
        cfg[loader].dataset.generate = dict(
            num_train=8, num_val=6, num_frames=12, seed=2)
    return cfg


@pytest.mark.slow
def test_posec3d_demo_trains_and_predicts_on_heatmap_volumes(root, tmp_path):
    """The demo config end to end on a tiny generated set: mmaction's pose
    pipeline gives 17-channel NCTHW heatmap volumes, the IResNet3dSlowOnly
    recogniser takes optimiser steps with a finite loss, and predicts."""
    from mmaction.registry import DATASETS, MODELS
    from mmengine.dataset import pseudo_collate
    from mmengine.optim import build_optim_wrapper
    init_default_scope('mmaction')
    cfg = _demo_cfg(root, tmp_path / 'skeletons')
    train = DATASETS.build(cfg.train_dataloader.dataset)
    val = DATASETS.build(cfg.val_dataloader.dataset)
    assert (len(train), len(val)) == (8, 6)
    # mmaction2's own PoseDataset and transforms make the heatmaps
    from mmaction.datasets import PoseDataset
    assert isinstance(train, PoseDataset)
    assert all(
        type(t).__module__.startswith('mmaction.')
        for t in nonempty(train.pipeline.transforms))
    sample = train[0]
    clip_len, size = cfg.clip_len, cfg.heatmap
    assert sample['inputs'].shape == (1, 17, clip_len, size, size)
    assert 0 < sample['inputs'].max() <= 1
    model = MODELS.build(cfg.model)
    model.init_weights()
    assert type(model.backbone).__name__ == 'IResNet3dSlowOnly'
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    model.train()
    batch = pseudo_collate([train[i] for i in range(4)])
    for _ in range(2):
        losses = model.train_step(batch, optim)
        assert torch.isfinite(losses['loss_cls'])
    model.eval()
    preds = model.val_step(pseudo_collate([val[i] for i in range(6)]))
    assert len(preds) == 6
    for pred in preds:
        assert pred.pred_score.shape == (len(MOTION_CLASSES), )
        torch.testing.assert_close(pred.pred_score.sum(), torch.tensor(1.))


def _plain(node):
    """A config as plain data without the ``_scope_`` keys that inheriting
    from an ``mmaction::`` base adds."""
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items() if k != '_scope_'}
    if isinstance(node, (list, tuple)):
        return type(node)(_plain(v) for v in node)
    return node


def _without(cfg, *keys):
    d = _plain(cfg.to_dict())
    for key in keys:
        *parents, last = key.split('.')
        node = d
        for p in parents:
            node = node[p]
        node.pop(last, None)
    return d


@pytest.mark.parametrize('name,base,backbone', [
    ('posec3d_iresnet50_u48_ntu60_xsub_keypoint.py', POSEC3D,
     'IResNet3dSlowOnly'),
    ('pose_only_iresnet_ntu60_xsub.py', RGBPOSE + 'pose_only.py',
     'IResNet3dSlowOnly'),
    ('rgb_only_iresnet50_ntu60_xsub.py', RGBPOSE + 'rgb_only.py',
     'IResNet3dSlowOnly'),
    ('rgbpose_conv3d_iresnet50_ntu60_xsub.py', RGBPOSE + 'rgbpose_conv3d.py',
     'IRGBPoseConv3D'),
])
def test_skeleton_configs_are_mmactions_with_the_backbone_swapped(
        root, name, base, backbone):
    """Everything but the backbone type (and the published ResNet
    initialisation) is mmaction2's own."""
    ours = Config.fromfile(osp.join(root, 'configs', 'skeleton', name))
    import mmaction
    theirs = Config.fromfile(
        osp.join(
            osp.dirname(mmaction.__file__), '.mim', 'configs', 'skeleton',
            base))
    assert ours.model.backbone.type == backbone
    skip = [
        'model.backbone.type', 'custom_imports', 'auto_scale_lr', 'load_from'
    ]
    assert _without(ours, *skip) == _without(theirs, *skip)
    assert ours.get('load_from') is None


@pytest.mark.parametrize('name,shape', [
    ('posec3d_iresnet50_u48_ntu60_xsub_keypoint.py', (1, 17, 8, 32, 32)),
    ('pose_only_iresnet_ntu60_xsub.py', (1, 17, 8, 32, 32)),
    ('rgb_only_iresnet50_ntu60_xsub.py', (1, 3, 4, 32, 32)),
])
def test_skeleton_config_builds_and_takes_a_loss_step(root, name, shape):
    from mmaction.registry import MODELS
    from mmaction.structures import ActionDataSample
    init_default_scope('mmaction')
    cfg = Config.fromfile(osp.join(root, 'configs', 'skeleton', name))
    model = MODELS.build(cfg.model)
    model.init_weights()
    assert type(model.backbone).__name__ == 'IResNet3dSlowOnly'
    # mmaction's ResNet3dSlowOnly with the config's arguments: the same
    # parameter count and output size
    args = dict(cfg.model.backbone, type='ResNet3dSlowOnly')
    resnet = MODELS.build(args)
    count = [
        sum(p.numel() for p in m.parameters())
        for m in (model.backbone, resnet)
    ]
    assert count[0] == count[1]
    with torch.no_grad():
        x = torch.rand(shape)
        assert model.backbone(x).shape == resnet(x).shape
    data = dict(
        inputs=[torch.rand(shape)],
        data_samples=[ActionDataSample().set_gt_label(7)])
    batch = model.data_preprocessor(data, training=True)
    losses = model(**batch, mode='loss')
    assert torch.isfinite(losses['loss_cls'])
    losses['loss_cls'].backward()
    assert model.backbone.conv1.weight.grad is not None  # the stem trains


def test_rgbpose_config_builds_as_mmactions(root):
    """The RGBPoseConv3D config builds IRGBPoseConv3D with the parameter
    count and both pathways' output sizes of mmaction2's RGBPoseConv3D."""
    from mmaction.registry import MODELS
    init_default_scope('mmaction')
    cfg = Config.fromfile(
        osp.join(root, 'configs', 'skeleton',
                 'rgbpose_conv3d_iresnet50_ntu60_xsub.py'))
    ours = MODELS.build(cfg.model.backbone)
    theirs = MODELS.build(dict(cfg.model.backbone, type='RGBPoseConv3D'))
    assert type(ours).__name__ == 'IRGBPoseConv3D'
    count = [sum(p.numel() for p in m.parameters()) for m in (ours, theirs)]
    assert count[0] == count[1]
    imgs, heatmaps = torch.rand(1, 3, 8, 64, 64), torch.rand(1, 17, 32, 16, 16)
    with torch.no_grad():
        shapes = [[y.shape for y in m.eval()(imgs, heatmaps)]
                  for m in (ours, theirs)]
    assert len(shapes[0]) == 2 and shapes[0] == shapes[1]
