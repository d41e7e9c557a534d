"""IResNet3d / IResNetTSM inside mmaction2: configs, recognisers, zoo."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mm_iresnet.models import IResNet3d, IResNetTSM
from mm_iresnet.zoo import swap_backbone_type, zoo_config_files

CONFIGS = {
    'kinetics400/i3d_iresnet50_32x2x1_k400.py': ('IResNet3d', 400),
    'kinetics400/slowonly_iresnet50_8x8x1_k400.py': ('IResNet3dSlowOnly',
                                                     400),
    'sthv2/i3d_iresnet50_sthv2.py': ('IResNet3d', 174),
    'sthv2/tsm_iresnet50_sthv2.py': ('IResNetTSM', 174),
}


def load(root, name):
    return Config.fromfile(osp.join(root, 'configs', name))


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_recognition_configs(root, name):
    cfg = load(root, name)
    backbone_type, classes = CONFIGS[name]
    assert cfg.model.backbone.type == backbone_type
    assert cfg.model.backbone.pretrained == \
        'checkpoints/iresnet50_imagenet_mm.pth'
    assert cfg.model.cls_head.num_classes == classes
    ann = cfg.train_dataloader.dataset.ann_file
    assert ann.startswith('data/kinetics400/' if classes == 400 else
                          'data/sthv2/')
    assert 'base_batch_size' in cfg.auto_scale_lr
    if 'sthv2' in name:  # motion direction is the label: no flip
        assert all(t['type'] != 'Flip'
                   for t in cfg.train_dataloader.dataset.pipeline)


def _clip_batch(shape, label, num_classes):
    from mmaction.structures import ActionDataSample
    sample = ActionDataSample().set_gt_label(label)
    return dict(inputs=[torch.randint(0, 255, shape).float()],
                data_samples=[sample])


@pytest.mark.parametrize('name,shape', [
    ('kinetics400/i3d_iresnet50_32x2x1_k400.py', (1, 3, 16, 64, 64)),
    ('sthv2/tsm_iresnet50_sthv2.py', (8, 3, 64, 64)),
])
def test_recogniser_from_config_trains_and_predicts(root, name, shape):
    from mmaction.registry import MODELS
    init_default_scope('mmaction')
    cfg = load(root, name)
    cfg.model.backbone.pretrained = None
    model = MODELS.build(cfg.model)
    model.init_weights()
    assert isinstance(model.backbone, (IResNet3d, IResNetTSM))
    data = _clip_batch(shape, 3, cfg.model.cls_head.num_classes)
    model.train()
    batch = model.data_preprocessor(copy.deepcopy(data), training=True)
    losses = model(**batch, mode='loss')
    loss = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(loss)
    loss.backward()
    assert model.backbone.layer4[-1].conv2.weight.grad is not None
    model.eval()
    with torch.no_grad():
        batch = model.data_preprocessor(data, training=False)
        preds = model(**batch, mode='predict')
    scores = preds[0].pred_score
    assert scores.shape == (cfg.model.cls_head.num_classes, )
    torch.testing.assert_close(scores.sum(), torch.tensor(1.))


def _zoo_resnet3d_configs():
    out = []
    for path in zoo_config_files('mmaction'):
        name = osp.basename(path)
        if f'{osp.sep}recognition{osp.sep}' not in path or \
                not name.startswith(('i3d_', 'slowonly_')) or 'flow' in name:
            continue
        backbone = Config.fromfile(path).model.backbone.type
        if backbone in ('ResNet3d', 'ResNet3dSlowOnly'):
            out.append(path)
    return out


def test_zoo_scan_found_i3d_and_slowonly():
    names = [osp.basename(p) for p in _zoo_resnet3d_configs()]
    assert sum(n.startswith('i3d_') for n in names) >= 5
    assert sum(n.startswith('slowonly_') for n in names) >= 5


@pytest.mark.parametrize('path', _zoo_resnet3d_configs(),
                         ids=lambda p: osp.basename(p)[:60])
def test_mmaction_zoo_configs_run_with_the_type_swapped(path):
    """mmaction2's own I3D / SlowOnly configs, with only the backbone type
    (ResNet3d -> IResNet3d, ResNet3dSlowOnly -> IResNet3dSlowOnly) and
    pretrained path changed."""
    from mmaction.registry import MODELS
    init_default_scope('mmaction')
    cfg = Config.fromfile(path)
    old = cfg.model.backbone.type
    assert old in ('ResNet3d', 'ResNet3dSlowOnly')
    swap_backbone_type(cfg.model, old, 'I' + old)
    model = MODELS.build(cfg.model)
    model.init_weights()
    assert isinstance(model.backbone, IResNet3d)
    data = _clip_batch((1, 3, 16, 64, 64), 1,
                       cfg.model.cls_head.num_classes)
    model.eval()
    with torch.no_grad():
        batch = model.data_preprocessor(data, training=False)
        preds = model(**batch, mode='predict')
    assert preds[0].pred_score.shape == (cfg.model.cls_head.num_classes, )


def _write_videos(folder, count, frames=20, size=(80, 64)):
    import cv2
    import numpy as np
    os = __import__('os')
    os.makedirs(folder, exist_ok=True)
    lines = []
    rng = np.random.RandomState(0)
    for i in range(count):
        name = f'clip{i}.mp4'
        writer = cv2.VideoWriter(osp.join(folder, name),
                                 cv2.VideoWriter_fourcc(*'mp4v'), 8, size)
        for _ in range(frames):
            writer.write(rng.randint(0, 255, (size[1], size[0], 3),
                                     dtype=np.uint8))
        writer.release()
        lines.append(f'{name} {i % 3}')
    ann = osp.join(folder, 'list.txt')
    with open(ann, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return ann


@pytest.mark.parametrize('name,crop_steps', [
    ('kinetics400/i3d_iresnet50_32x2x1_k400.py', (4, 5)),
    ('sthv2/tsm_iresnet50_sthv2.py', (4, 5)),
])
def test_recognition_config_trains_a_step_via_train_tool(root, tmp_path, name,
                                                         crop_steps):
    """The Kinetics/SSv2 configs run unchanged through tools/train.py on
    generated videos; only paths, sizes and the schedule are overridden."""
    import subprocess
    import sys
    ann = _write_videos(str(tmp_path / 'videos'), 2)
    crop, resize = crop_steps
    overrides = ['model.backbone.pretrained=None']
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        overrides += [
            f'{loader}.dataset.ann_file={ann}',
            f'{loader}.dataset.data_prefix.video={tmp_path / "videos"}',
            f'{loader}.batch_size=2', f'{loader}.num_workers=0',
            f'{loader}.persistent_workers=False'
        ]
    pipe = 'train_dataloader.dataset.pipeline'
    overrides += [
        f'{pipe}.1.clip_len={8 if "i3d" in name else 1}',
        f'{pipe}.3.scale=(-1,72)', f'{pipe}.{crop}.input_size=64',
        f'{pipe}.{resize}.scale=(64,64)', 'train_cfg.max_epochs=1',
        'train_cfg.val_begin=100', 'default_hooks.checkpoint.interval=100',
        'default_hooks.logger.interval=1'
    ]
    proc = subprocess.run(
        [sys.executable, osp.join(root, 'tools', 'train.py'),
         osp.join(root, 'configs', name), '--work-dir',
         str(tmp_path / 'work'), '--cfg-options'] + overrides,
        cwd=str(tmp_path), capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert 'Epoch(train) [1][1/1]' in log
    assert 'loss_cls' in log
