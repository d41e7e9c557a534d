"""IResNet inside mmdet: registry, configs, detectors, mmdet's zoo."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mm_iresnet.models import IResNet

CONFIGS = [
    'faster_rcnn_iresnet50.py', 'faster_rcnn_iresnet101.py',
    'faster_rcnn_iresnet50_2x.py', 'faster_rcnn_iresnet50_syncbn.py',
    'mask_rcnn_iresnet50.py', 'mask_rcnn_iresnet101.py',
    'mask_rcnn_iresnet50_2x.py', 'mask_rcnn_iresnet50_syncbn.py'
]


def load(root, name):
    return Config.fromfile(osp.join(root, 'configs', 'coco', name))


def test_registry_build_through_mmdet_and_mmaction():
    from mmaction.registry import MODELS as ACTION_MODELS
    from mmdet.registry import MODELS as DET_MODELS
    cfg = dict(type='IResNet', depth=18, base_channels=4)
    assert isinstance(DET_MODELS.build(cfg), IResNet)
    assert isinstance(ACTION_MODELS.build(cfg), IResNet)


def test_custom_imports_in_a_fresh_process(root, tmp_path):
    """A config's custom_imports alone makes the type buildable."""
    import sys

    from .helpers import run_process
    cfg = tmp_path / 'cfg.py'
    cfg.write_text("custom_imports = dict(imports=['mm_iresnet'], "
                   'allow_failed_imports=False)\n'
                   "backbone = dict(type='IResNet', depth=18)\n")
    code = ('from mmengine.config import Config\n'
            'from mmdet.registry import MODELS\n'
            f'cfg = Config.fromfile({str(cfg)!r})\n'
            'print(type(MODELS.build(cfg.backbone)).__name__)\n')
    out = run_process([sys.executable, '-c', code],
                      timeout=300,
                      capture_output=True,
                      text=True,
                      cwd=str(tmp_path),
                      check=True)
    assert out.stdout.strip().endswith('IResNet')


@pytest.mark.parametrize('name', CONFIGS)
def test_configs_load(root, name):
    cfg = load(root, name)
    backbone = cfg.model.backbone
    assert backbone.type == 'IResNet'
    assert backbone.init_cfg.type == 'Pretrained'
    assert backbone.init_cfg.checkpoint.startswith('iresnet://iresnet')
    assert 'torchvision' not in cfg.pretty_text
    assert cfg.train_dataloader.dataset.data_root == 'data/coco/'
    assert cfg.auto_scale_lr.base_batch_size == 16
    assert 'mm_iresnet' in cfg.custom_imports.imports
    if 'syncbn' in name:
        assert backbone.norm_cfg.type == 'SyncBN'
    if '2x' in name:
        assert cfg.train_cfg.max_epochs == 24
    depth = 101 if '101' in name else 50
    assert backbone.depth == depth and str(
        depth) in backbone.init_cfg.checkpoint


@pytest.mark.parametrize('name,with_mask',
                         [('faster_rcnn_iresnet50.py', False),
                          ('mask_rcnn_iresnet50.py', True)])
def test_detector_from_config_trains_and_predicts(root, name, with_mask):
    from mmdet.registry import MODELS
    from mmdet.testing import demo_mm_inputs
    init_default_scope('mmdet')
    cfg = load(root, name)
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    model.init_weights()
    assert isinstance(model.backbone, IResNet)
    data = demo_mm_inputs(
        batch_size=1,
        image_shapes=(3, 128, 160),
        num_items=[3],
        with_mask=with_mask)
    batch = model.data_preprocessor(data, training=True)
    model.train()
    losses = model.loss(batch['inputs'], batch['data_samples'])
    total = sum(v.sum() if isinstance(v, torch.Tensor) else sum(v)
                for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    frozen = model.backbone.conv1.weight  # frozen_stages=1 in the base
    assert frozen.grad is None
    # zero-initialised start-block BN scale: gets a gradient, so it learns
    assert model.backbone.layer4[0].bn3.weight.grad.abs().sum() > 0
    assert model.backbone.layer2[1].conv3.weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        batch = model.data_preprocessor(data, training=False)
        results = model.predict(batch['inputs'], batch['data_samples'])
    assert len(results) == 1 and hasattr(results[0], 'pred_instances')
    if with_mask:
        assert hasattr(results[0].pred_instances, 'masks')


def test_missing_pretrained_reported_before_training(root, tmp_path):
    from mm_iresnet.cli import check_files
    cfg = load(root, 'faster_rcnn_iresnet50.py')
    cfg.train_dataloader.dataset.data_root = str(tmp_path) + '/'
    # a local file instead of the official name the config gives
    cfg.model.backbone.init_cfg.checkpoint = \
        'checkpoints/iresnet50_imagenet_mm.pth'
    with pytest.raises(FileNotFoundError) as err:
        check_files(cfg)
    msg = str(err.value)
    assert 'checkpoints/iresnet50_imagenet_mm.pth' in msg
    assert 'iresnet://iresnet50' in msg
    assert 'tools/convert_checkpoint.py' in msg
    assert osp.join(str(tmp_path), 'annotations/instances_train2017.json') \
        in msg


@pytest.mark.parametrize(
    'name', ['faster_rcnn_iresgroup50.py', 'mask_rcnn_iresgroup50.py'])
def test_iresgroup_configs_set_the_neck(root, name):
    from mmdet.registry import MODELS
    init_default_scope('mmdet')
    cfg = load(root, name)
    assert cfg.model.backbone.type == 'IResGroup'
    assert cfg.model.backbone.init_cfg.checkpoint == 'iresnet://iresgroup50'
    assert cfg.model.neck.in_channels == [128, 256, 512, 1024]
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    assert model.backbone.out_channels == cfg.model.neck.in_channels
    model.eval()
    with torch.no_grad():
        feats = model.extract_feat(torch.rand(1, 3, 128, 128))
    assert len(feats) == 5 and feats[0].shape[1] == 256
