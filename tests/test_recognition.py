"""IResNet3d / IResNetTSM inside mmaction2: configs, recognisers, zoo."""
import copy
import logging
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
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


@pytest.fixture(autouse=True)
def quiet():
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    yield
    logger.setLevel(level)


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
