"""Deploy mode: BN folded into the convs it follows, same eval numerics."""
import os.path as osp

import pytest
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from mm_iresnet.models import ORDERINGS, PRESETS, IResNet, IResNet3d
from .helpers import randomise_bn, run_process, zip_strict
from .scripts import load_script


@pytest.mark.parametrize('cls,kwargs,shape', [
    (IResNet, dict(depth=50), (2, 3, 64, 64)),
    (IResNet, dict(depth=18), (2, 3, 64, 64)),
    (IResNet, dict(depth=50, deep_stem=True, avg_down=True), (1, 3, 64, 64)),
    (IResNet, dict(depth=50, groups=4, base_width=4), (1, 3, 64, 64)),
    (IResNet,
     dict(depth=50, ordering='original', projection='conv', stem_pool=True),
     (1, 3, 64, 64)),
    (IResNet3d, dict(depth=50, out_indices=(0, 1, 2, 3)), (1, 3, 4, 64, 64)),
])
def test_switch_to_deploy_is_numerically_equal(cls, kwargs, shape):
    torch.manual_seed(0)
    model = cls(base_channels=8, **kwargs)
    model.init_weights()
    randomise_bn(model)
    model.eval()
    x = torch.randn(*shape)
    with torch.no_grad():
        before = model(x)
    bn_before = sum(isinstance(m, _BatchNorm) for m in model.modules())
    folded = model.switch_to_deploy()
    bn_after = sum(isinstance(m, _BatchNorm) for m in model.modules())
    assert folded and bn_after == bn_before - len(folded)
    with torch.no_grad():
        after = model(x)
    before = before if isinstance(before, tuple) else (before, )
    after = after if isinstance(after, tuple) else (after, )
    for a, b in zip_strict(before, after):  # 1e-4 of the feature scale
        assert (b - a).abs().max() <= 1e-4 * a.abs().max()


def test_deploy_keeps_the_norms_that_read_sums():
    model = IResNet(depth=50, base_channels=8)
    model.switch_to_deploy()
    mid, end = model.layer2[2], model.layer2[3]
    assert isinstance(mid.bn0, nn.BatchNorm2d)  # pre-activation
    assert isinstance(end.bn3, nn.BatchNorm2d)  # after the addition
    assert isinstance(mid.bn1, nn.Identity) and mid.conv1.bias is not None
    assert isinstance(model.layer2[0].bn3, nn.Identity)  # start: conv3-BN
    assert isinstance(model.layer2[0].downsample[2], nn.Identity)
    with pytest.raises(RuntimeError, match='deploy mode'):
        model.train()


def test_deploy_checkpoint_round_trip(tmp_path, root):
    """tools/reparameterize_model.py writes a checkpoint that a model built
    with backbone.deploy=True loads, with the original eval outputs."""
    import os.path as osp
    import sys

    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope
    init_default_scope('mmdet')
    config = osp.join(root, 'configs', 'demo',
                      'faster_rcnn_iresnet18_shapes.py')
    cfg = Config.fromfile(config)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    randomise_bn(model.backbone)
    torch.save({
        'state_dict': model.state_dict(),
        'meta': {}
    }, tmp_path / 'trained.pth')
    proc = run_process([
        sys.executable,
        osp.join(root, 'tools', 'reparameterize_model.py'), config,
        str(tmp_path / 'trained.pth'),
        str(tmp_path / 'deploy.pth')
    ],
                       timeout=600,
                       capture_output=True,
                       text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    cfg.model.backbone.deploy = True
    deployed = MODELS.build(cfg.model)
    deployed.load_state_dict(torch.load(tmp_path / 'deploy.pth')['state_dict'])
    model.eval(), deployed.eval()
    x = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        for a, b in zip_strict(model.backbone(x), deployed.backbone(x)):
            assert (b - a).abs().max() <= 1e-4 * a.abs().max()


@pytest.mark.parametrize('ordering', sorted(ORDERINGS))
@pytest.mark.parametrize('preset', sorted(PRESETS))
def test_mmcv_fuse_conv_bn_keeps_outputs(preset, ordering):
    """mmcv's fuse_conv_bn (mmdet's --fuse-conv-bn) folds each BN that
    follows a conv in module order; no after-add BN may be among them."""
    from mmcv.cnn import fuse_conv_bn
    torch.manual_seed(0)
    kwargs = dict(PRESETS[preset], ordering=ordering)
    if 'Group' in preset:
        kwargs.update(base_channels=32, stem_channels=8, groups=4)
    model = IResNet(depth=50, **dict(dict(base_channels=8), **kwargs))
    model.init_weights()
    randomise_bn(model, 0.5)
    model.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        before = model(x)
        fused = fuse_conv_bn(model)
        after = fused(x)
    assert sum(isinstance(m, _BatchNorm) for m in fused.modules()) < \
        sum(isinstance(m, _BatchNorm) for m in IResNet(
            depth=50, **dict(dict(base_channels=8), **kwargs)).modules())
    for a, b in zip_strict(after, before):
        assert ((a - b).norm() / b.norm()) <= 1e-5


@pytest.mark.parametrize('name', ['iresnet50', 'iresgroup50'])
def test_deploy_form_keeps_official_outputs(tmp_path, name):
    """switch_to_deploy (BN folded, separable shortcut pools) on the
    converted official weights gives the official outputs (master)."""
    from mm_iresnet.models.layers import SeparableMaxPool
    from .helpers import load_fixture
    from .test_official_parity import (MODELS, TOLERANCE, build,
                                       convert_official,
                                       stage_and_logit_errors)
    fixture = load_fixture('master_babdc4f', name)
    arch, converted = convert_official(tmp_path, fixture, MODELS[name][0])
    model = build(name, 'resstage', arch, converted['state_dict'])
    assert model.switch_to_deploy()
    assert isinstance(model.layer2[0].downsample[0], SeparableMaxPool)
    errors = stage_and_logit_errors(model, fixture, converted['classifier'])
    assert max(errors) <= TOLERANCE, errors


# ---------------------------------------------------------------------
# building for deployment (mm_iresnet.deploy.build)
SLOWFAST_18 = {
    'model.backbone.slow_pathway.depth': 18,
    'model.backbone.fast_pathway.depth': 18,
    'model.cls_head.in_channels': 512 + 64
}


def _trained(root, config, options, tmp_path, **extra):
    """A randomised model of ``config`` and a checkpoint of it in the form
    mmengine's Runner writes (message hub with a HistoryBuffer, numpy meta:
    not loadable with weights_only=True)."""
    import numpy as np
    from mmengine.logging import HistoryBuffer

    from mm_iresnet.configs import load_config
    from mm_iresnet.deploy.build import build_model
    cfg = load_config(osp.join(root, 'configs', config), options)
    cfg.dump(str(tmp_path / 'config.py'))
    torch.manual_seed(0)
    model = build_model(cfg)
    model.init_weights()
    randomise_bn(model, 0.5)
    path = str(tmp_path / 'trained.pth')
    torch.save(
        dict(
            state_dict=model.state_dict(),
            meta=dict(seed=np.int64(0), **extra),
            message_hub=dict(
                log_scalars=dict(loss=HistoryBuffer([1.0, 0.5], [1, 1])))),
        path)
    return model.eval(), str(tmp_path / 'config.py'), path


def _norms(model):
    return sum(isinstance(m, _BatchNorm) for m in model.modules())


def _same_features(a, b, x):
    with torch.no_grad():
        fa, fb = a.backbone(x), b.backbone(x)
    assert len(fa) == len(fb) > 0
    return max(((q - p).norm() / p.norm()).item() for p, q in zip(fa, fb))


@pytest.mark.parametrize('config,options,shape', [
    ('demo/faster_rcnn_iresnet18_shapes.py', {}, (1, 3, 64, 96)),
    ('kinetics400/slowfast_iresnet50_8x8x1_k400.py', SLOWFAST_18,
     (1, 3, 16, 32, 32)),
])
def test_folded_checkpoint_builds_for_export(tmp_path, root, config, options,
                                             shape):
    """A Runner-style checkpoint (trusted: named by the caller) and its
    folded form from tools/reparameterize_model.py build through
    build_deploy_model with the original eval outputs; a SlowFast backbone
    is folded pathway by pathway."""
    from mm_iresnet.deploy import build_deploy_model
    model, cfg_path, ckpt = _trained(root, config, options, tmp_path)
    tool = load_script(root, 'tools', 'reparameterize_model.py')
    folded = str(tmp_path / 'deploy.pth')
    assert tool.main([cfg_path, ckpt, folded]) == 0
    x = torch.randn(*shape)
    for path in (ckpt, folded):
        deployed, _ = build_deploy_model(cfg_path, path)
        assert _norms(deployed) < _norms(model)  # the deploy form
        assert _same_features(model, deployed, x) <= 1e-5
    # folding a folded checkpoint again is refused
    assert tool.main([cfg_path, folded, str(tmp_path / 'again.pth')]) == 1


def test_build_deploy_model_names_the_keys_that_do_not_fit(tmp_path, root):
    from mm_iresnet.deploy import build_deploy_model
    _, cfg_path, ckpt = _trained(root, 'demo/faster_rcnn_iresnet18_shapes.py',
                                 {}, tmp_path)
    state = torch.load(ckpt, weights_only=False)
    state['state_dict'].pop('backbone.layer2.0.conv1.weight')
    state['state_dict']['backbone.extra.weight'] = torch.zeros(1)
    torch.save(state, ckpt)
    with pytest.raises(
            RuntimeError,
            match=r'backbone\.extra\.weight(.|\n)*'
            r'backbone\.layer2\.0\.conv1\.weight'):
        build_deploy_model(cfg_path, ckpt)
    with pytest.raises(FileNotFoundError, match='nowhere.pth'):
        build_deploy_model(cfg_path, str(tmp_path / 'nowhere.pth'))
