"""The iResNet video backbones inside mmaction2: configs, recognisers, zoo."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mm_iresnet.zoo import (ACTION_SWAPS, action_zoo, cleared_backbone,
                            swap_backbone_type)
from .helpers import nonempty, run_control, run_process

CONFIGS = {
    'kinetics400/i3d_iresnet50_32x2x1_k400.py': ('IResNet3d', 400),
    'kinetics400/slowonly_iresnet50_8x8x1_k400.py': ('IResNet3dSlowOnly', 400),
    'kinetics400/slowfast_iresnet50_8x8x1_k400.py': ('IResNet3dSlowFast', 400),
    'sthv2/i3d_iresnet50_sthv2.py': ('IResNet3d', 174),
    'sthv2/tsm_iresnet50_sthv2.py': ('IResNetTSM', 174),
    'sthv2/tsn_iresnet50_sthv2.py': ('IResNet', 174),
}
#: as mmaction's SlowFast config, ours trains from scratch
FROM_SCRATCH = {'kinetics400/slowfast_iresnet50_8x8x1_k400.py'}


def load(root, name):
    return Config.fromfile(osp.join(root, 'configs', name))


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_recognition_configs(root, name):
    cfg = load(root, name)
    backbone_type, classes = CONFIGS[name]
    assert cfg.model.backbone.type == backbone_type
    assert cfg.model.backbone.get('pretrained') == (
        None if name in FROM_SCRATCH else 'iresnet://iresnet50')
    assert cfg.model.cls_head.num_classes == classes
    ann = cfg.train_dataloader.dataset.ann_file
    assert ann.startswith('data/kinetics400/' if classes ==
                          400 else 'data/sthv2/')
    assert 'base_batch_size' in cfg.auto_scale_lr
    if 'sthv2' in name:  # motion direction is the label: no plain flip
        assert all(t['type'] != 'Flip' or t.get('flip_label_map')
                   for t in nonempty(cfg.train_dataloader.dataset.pipeline))


def _clip_batch(shape, label, num_classes):
    from mmaction.structures import ActionDataSample
    sample = ActionDataSample().set_gt_label(label)
    return dict(
        inputs=[torch.randint(0, 255, shape).float()], data_samples=[sample])


@pytest.mark.parametrize('name,shape', [
    ('kinetics400/i3d_iresnet50_32x2x1_k400.py', (1, 3, 16, 64, 64)),
    ('kinetics400/slowfast_iresnet50_8x8x1_k400.py', (1, 3, 16, 64, 64)),
    ('sthv2/tsm_iresnet50_sthv2.py', (8, 3, 64, 64)),
    ('sthv2/tsn_iresnet50_sthv2.py', (8, 3, 64, 64)),
])
def test_recogniser_from_config_trains_and_predicts(root, name, shape):
    from mmaction.registry import MODELS
    init_default_scope('mmaction')
    cfg = load(root, name)
    cfg.model.backbone.pretrained = None
    model = MODELS.build(cfg.model)
    model.init_weights()
    assert type(model.backbone).__name__ == {
        'IResNet': 'IResNetAction'
    }.get(CONFIGS[name][0], CONFIGS[name][0])
    data = _clip_batch(shape, 3, cfg.model.cls_head.num_classes)
    model.train()
    batch = model.data_preprocessor(copy.deepcopy(data), training=True)
    losses = model(**batch, mode='loss')
    loss = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(loss)
    loss.backward()
    assert any(p.grad is not None for p in model.backbone.parameters())
    model.eval()
    with torch.no_grad():
        batch = model.data_preprocessor(data, training=False)
        preds = model(**batch, mode='predict')
    scores = preds[0].pred_score
    assert scores.shape == (cfg.model.cls_head.num_classes, )
    torch.testing.assert_close(scores.sum(), torch.tensor(1.))


#: (config path, backbone type) of mmaction2's installed recognition zoo,
#: for every ResNet-family type with a counterpart
ZOO = [(path, cfg.model.backbone.type)
       for path, cfg in action_zoo(('recognition', ))]
#: the configs of the walk whose control (mmaction2's own backbone) fails
#: here, with the text of its error: none. Any control failure fails the
#: walk; a config added here must fail with its text, or the walk fails.
CONTROL_FAILS = {}


def _rel(path):
    """The path under mmaction2's configs/, with '/' between folders."""
    return path.split(f'configs{osp.sep}')[-1].replace(osp.sep, '/')


def test_expected_control_failures_are_configs_of_the_walk():
    assert set(CONTROL_FAILS) <= {_rel(p) for p, _ in ZOO}


def test_zoo_scan_found_every_type():
    counts = {
        t: sum(1 for _, k in ZOO if k == t)
        for t in ACTION_SWAPS if t != 'RGBPoseConv3D'
    }  # skeleton/: test_zoo_swap.py
    print('\nmmaction2 zoo configs per backbone type:', counts)
    assert counts['ResNet'] >= 10 and counts['ResNetTSM'] >= 10
    assert counts['ResNet3dSlowFast'] >= 4 and counts['ResNet3dCSN'] >= 6
    assert min(counts.values()) >= 2


def _train_step(model_cfg, format_shape, segments, channels):
    """Build the recogniser, one loss step with backward on a tiny clip."""
    from mmaction.registry import MODELS
    model = MODELS.build(model_cfg)
    model.init_weights()
    model.train()
    shape = (segments, channels, 64, 64) if format_shape == 'NCHW' else \
        (1, channels, 16, 64, 64)
    data = _clip_batch(shape, 1, model_cfg['cls_head']['num_classes'])
    batch = model.data_preprocessor(data, training=True)
    losses = model(**batch, mode='loss')
    loss = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(loss)
    loss.backward()
    return model


@pytest.mark.slow
@pytest.mark.parametrize(
    'path,old', ZOO, ids=[osp.basename(p)[:60] for p, _ in ZOO])
def test_mmaction_zoo_recognizers_run_with_the_type_swapped(path, old):
    """Each recognition config of mmaction2's zoo whose backbone is of the
    ResNet family: where it runs a loss step with mmaction2's own backbone
    (pretrained cleared), it runs with only the type changed to iResNet."""
    init_default_scope('mmaction')
    cfg = Config.fromfile(path)
    # ActionDataPreprocessor's default format is NCHW
    fmt = cfg.model.data_preprocessor.get('format_shape', 'NCHW')
    segments = cfg.model.cls_head.get('num_segments') or \
        cfg.model.backbone.get('num_segments') or 8
    channels = cfg.model.backbone.get('in_channels', 3)
    base = copy.deepcopy(cfg.model.to_dict())
    base['backbone'] = cleared_backbone(base['backbone'])
    run_control(lambda: _train_step(base, fmt, segments, channels), _rel(path),
                CONTROL_FAILS, f"mmaction2's own {old}")
    ours = copy.deepcopy(cfg.model.to_dict())
    assert swap_backbone_type(ours, old, ACTION_SWAPS[old]) == 1
    model = _train_step(ours, fmt, segments, channels)
    swapped = type(model.backbone).__name__
    assert swapped in (ACTION_SWAPS[old], 'IResNetAction')
    grads = [p.grad for p in model.backbone.parameters() if p.requires_grad]
    assert grads and any(g is not None and g.abs().sum() > 0 for g in grads)


def _write_videos(folder, count, frames=20, size=(80, 64)):
    import cv2
    import numpy as np
    os = __import__('os')
    os.makedirs(folder, exist_ok=True)
    lines = []
    rng = np.random.RandomState(0)
    for i in range(count):
        name = f'clip{i}.mp4'
        writer = cv2.VideoWriter(
            osp.join(folder, name), cv2.VideoWriter_fourcc(*'mp4v'), 8, size)
        for _ in range(frames):
            writer.write(
                rng.randint(0, 255, (size[1], size[0], 3), dtype=np.uint8))
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
@pytest.mark.slow
def test_recognition_config_trains_a_step_via_train_tool(
        root, tmp_path, name, crop_steps):
    """The Kinetics/SSv2 configs run unchanged through tools/train.py on
    generated videos; only paths, sizes and the schedule are overridden."""
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
    proc = run_process(
        [
            sys.executable,
            osp.join(root, 'tools', 'train.py'),
            osp.join(root, 'configs', name), '--work-dir',
            str(tmp_path / 'work'), '--cfg-options'
        ] + overrides,
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert 'Epoch(train) [1][1/1]' in log
    assert 'loss_cls' in log
