"""The 2D IResNet backbone: architecture, mmdet signature, errors."""
from unittest import mock

import pytest
import torch
import torch.nn as nn
from mmdet.models.backbones import ResNet
from mmdet.models.backbones.resnet import Bottleneck as MMDetBottleneck
from torch.nn.modules.batchnorm import _BatchNorm

from mm_iresnet.models import IResNet, ResBlock
from mm_iresnet.models.layers import SeparableMaxPool
from mm_iresnet.models.layouts import (ORDERINGS, Layout, block_position,
                                       get_layout)
from .helpers import n_params, nonempty, zip_strict

ALL_DEPTHS = sorted(IResNet.arch_settings)


def relu_count_on_main_path(model):
    """ReLUs applied to the tensor that flows stage to stage: a post_act of
    a block (residual branches excluded)."""
    return sum(1 for m in model.modules()
               if isinstance(m, ResBlock) and m.layout.post_act)


# ---------------------------------------------------------------- structure
@pytest.mark.parametrize('depth', ALL_DEPTHS)
def test_every_depth_shapes_and_channels(depth):
    base = 4 if depth < 200 else 2
    model = IResNet(depth=depth, base_channels=base).eval()
    kind, blocks = IResNet.arch_settings[depth]
    expansion = 4 if kind == 'bottleneck' else 1
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 64, 64))
    assert isinstance(outs, tuple) and len(outs) == 4
    for i, out in enumerate(outs):
        assert out.shape == (1, base * 2**i * expansion, 64 // 2**(i + 2),
                             64 // 2**(i + 2))
    assert model.stage_channels == [base * 2**i * expansion for i in range(4)]
    assert [len(getattr(model, f'layer{i + 1}')) for i in range(4)] == \
        list(blocks)
    # the released ResStage: two ReLUs per stage on the main path (after
    # the start block and after the end block), whatever the depth
    assert relu_count_on_main_path(model) == 8
    paper = IResNet(depth=depth, base_channels=base, ordering='resstage_paper')
    assert relu_count_on_main_path(paper) == 4  # the paper's: one per stage
    assert not hasattr(model, 'maxpool')


@pytest.mark.parametrize('depth', [18, 34, 50, 101, 152])
def test_param_count_equals_mmdet_resnet(depth):
    base = 64 if depth <= 50 else 16
    ours = n_params(IResNet(depth=depth, base_channels=base))
    theirs = n_params(ResNet(depth=depth, base_channels=base))
    assert ours == theirs


class _DeepResNet(ResNet):
    """mmdet's ResNet with the deeper official stage tables."""
    arch_settings = {
        **ResNet.arch_settings,
        **{
            d: (MMDetBottleneck, IResNet.arch_settings[d][1])
            for d in (200, 302, 404, 1001)
        }
    }


@pytest.mark.parametrize('depth', [200, 302, 404, 1001])
def test_param_count_equals_resnet_at_extreme_depth(depth):
    ours = n_params(IResNet(depth=depth, base_channels=4))
    theirs = n_params(_DeepResNet(depth=depth, base_channels=4))
    assert ours == theirs


def test_iresnet50_param_count_with_fc_matches_paper():
    model = IResNet(depth=50)
    fc = 2048 * 1000 + 1000
    assert n_params(model) + fc == 25_557_032


def test_resstage_layout_table():
    start, first_middle, middle, end = (
        get_layout('resstage', i, 4) for i in range(4))
    # released: the start block's output is rectified on the main path
    # (the official first middle block's in-place ReLU)
    assert start.last_norm and start.post_act and not (start.pre_norm
                                                       or start.pre_act)
    assert first_middle == Layout()
    assert middle.pre_norm and middle.pre_act and not middle.post_act
    assert end.pre_norm and end.post_norm and end.post_act
    assert get_layout('resstage', 1, 2) == Layout(
        post_norm=True, post_act=True)
    # the paper's reading: the first middle block rectifies its branch only
    start, first_middle = (
        get_layout('resstage_paper', i, 4) for i in range(2))
    assert start == Layout(last_norm=True)
    assert first_middle == Layout(pre_act=True)
    assert not get_layout('resstage_paper', 1, 2).pre_norm  # n=2: end first
    assert [block_position(i, 2) for i in range(2)] == ['start', 'first_end']
    assert block_position(0, 1) == 'single'
    with pytest.raises(ValueError, match='valid orderings'):
        get_layout('nope', 0, 3)


@pytest.mark.parametrize('ordering,start_rectified',
                         [('resstage', True), ('resstage_paper', False)])
def test_block_applies_layout_order(ordering, start_rectified):
    """Released: the start block's output is rectified; the paper's: it may
    be negative (no ReLU after the add). A first middle block's output may be
    negative; an end block's never is; an end block is BN(x + F(x)), ReLU."""
    torch.manual_seed(0)  # 4 channels: whether one is negative is chance
    model = IResNet(depth=50, base_channels=4, ordering=ordering).eval()
    x = torch.randn(2, 3, 64, 64)
    feats = {}
    hooks = [
        model.layer1[i].register_forward_hook(
            lambda m, i, o, k=i: feats.__setitem__(k, o)) for i in range(3)
    ]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    assert bool((feats[0] >= 0).all()) == start_rectified
    assert (feats[1] < 0).any()
    assert (feats[2] >= 0).all()
    end = model.layer1[2]
    assert end.norm_names == {0: 'bn0', 1: 'bn1', 2: 'bn2', 3: 'bn3'}
    assert isinstance(end.norm(3), nn.BatchNorm2d)


def test_improved_projection_shortcut():
    model = IResNet(depth=50, base_channels=8)
    ds = model.layer2[0].downsample
    # the shortcut's max-pool (PyTorch's pool where a gradient flows)
    assert isinstance(ds[0], SeparableMaxPool) and ds[0].dim == 2
    assert ds[0].kernel_size == (3, 3) and ds[0].stride == (2, 2) \
        and ds[0].padding == (1, 1)
    assert ds[1].stride == (1, 1) and ds[1].kernel_size == (1, 1)
    assert isinstance(ds[2], nn.BatchNorm2d)
    # stage 1 strides (the stem has no max-pool) and widens
    assert isinstance(model.layer1[0].downsample[0], SeparableMaxPool)
    # width change only / stride only
    basic = IResNet(depth=18, base_channels=8)
    assert [type(m) for m in basic.layer1[0].downsample] == \
        [SeparableMaxPool]
    dil = IResNet(
        depth=50,
        base_channels=8,
        strides=(1, 2, 2, 1),
        dilations=(1, 1, 1, 2))
    # a stage that dilates instead of striding widens only: no pool, and
    # an Identity where the pool would be keeps the conv and norm at the
    # indices (and state-dict keys) they have in the striding network
    assert [type(m).__name__ for m in dil.layer4[0].downsample] == \
        ['Identity', 'Conv2d', 'BatchNorm2d']
    strided_keys = {k for k in model.state_dict() if 'downsample' in k}
    dilated_keys = {k for k in dil.state_dict() if 'downsample' in k}
    assert strided_keys == dilated_keys


def test_original_ordering_equals_mmdet_resnet():
    """ordering='original', projection='conv', stem_pool=True is mmdet's
    ResNet weight for weight."""
    torch.manual_seed(0)
    theirs = ResNet(depth=50, base_channels=8)
    ours = IResNet(
        depth=50,
        base_channels=8,
        ordering='original',
        projection='conv',
        stem_pool=True)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    ours.eval(), theirs.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip_strict(ours(x), theirs(x)):
            torch.testing.assert_close(a, b)


# ------------------------------------------------------- mmdet arguments
def test_out_indices_and_num_stages():
    model = IResNet(depth=18, base_channels=4, out_indices=(1, 3)).eval()
    outs = model(torch.rand(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [8, 32]
    assert model.out_channels == [8, 32]
    model = IResNet(
        depth=50,
        base_channels=4,
        num_stages=3,
        strides=(1, 2, 2),
        dilations=(1, 1, 1),
        out_indices=(2, )).eval()
    (out, ) = model(torch.rand(1, 3, 64, 64))
    assert out.shape == (1, 64, 4, 4) and not hasattr(model, 'layer4')


def test_strides_and_dilations():
    model = IResNet(
        depth=50,
        base_channels=4,
        strides=(1, 2, 2, 1),
        dilations=(1, 1, 1, 2)).eval()
    outs = model(torch.rand(1, 3, 64, 64))
    assert outs[3].shape[-1] == outs[2].shape[-1] == 4
    conv2 = model.layer4[1].conv2
    assert conv2.dilation == (2, 2) and conv2.padding == (2, 2)
    # strides[0] keeps mmdet's meaning: stage 1 stride = stem pool's 2 x it
    model = IResNet(depth=18, base_channels=4, strides=(2, 2, 2, 2)).eval()
    assert model(torch.rand(1, 3, 64, 64))[0].shape[-1] == 8


def test_style_caffe_strides_first_conv():
    pt = IResNet(depth=50, base_channels=4)
    caffe = IResNet(depth=50, base_channels=4, style='caffe')
    assert pt.layer2[0].conv1.stride == (1, 1)
    assert pt.layer2[0].conv2.stride == (2, 2)
    assert caffe.layer2[0].conv1.stride == (2, 2)
    assert caffe.layer2[0].conv2.stride == (1, 1)
    assert caffe(torch.rand(1, 3, 64, 64))[3].shape[-1] == 2


def test_frozen_stages():
    model = IResNet(
        depth=18, base_channels=4, frozen_stages=2, norm_eval=False)
    model.train()
    for m in [model.conv1, model.norm1, model.layer1, model.layer2]:
        assert all(not p.requires_grad for p in nonempty(m.parameters()))
        assert all(not mod.training for mod in nonempty(m.modules()))
    for m in [model.layer3, model.layer4]:
        assert all(p.requires_grad for p in nonempty(m.parameters()))
        assert all(mod.training for mod in nonempty(m.modules()))
    model = IResNet(depth=18, base_channels=4, frozen_stages=1, deep_stem=True)
    model.train()
    assert all(not p.requires_grad for p in nonempty(model.stem.parameters()))


def test_norm_eval():
    for norm_eval in (True, False):
        model = IResNet(depth=18, base_channels=4, norm_eval=norm_eval)
        model.train()
        bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
        assert all(m.training is not norm_eval for m in nonempty(bns))
        assert model.layer1[0].conv1.training  # the rest still trains


@pytest.mark.parametrize('norm_cfg,cls', [
    (dict(type='BN', requires_grad=True), nn.BatchNorm2d),
    (dict(type='SyncBN', requires_grad=True), nn.SyncBatchNorm),
    (dict(type='GN', num_groups=4, requires_grad=True), nn.GroupNorm),
])
def test_norm_cfg(norm_cfg, cls):
    model = IResNet(depth=50, base_channels=8, norm_cfg=norm_cfg).eval()
    norms = [
        m for m in model.modules() if isinstance(m, (_BatchNorm, nn.GroupNorm))
    ]
    assert norms and all(isinstance(m, cls) for m in nonempty(norms))
    assert isinstance(model.norm1, cls)
    model(torch.rand(1, 3, 32, 32))


def test_norm_requires_grad_false():
    model = IResNet(
        depth=18,
        base_channels=4,
        norm_cfg=dict(type='BN', requires_grad=False))
    assert all(not p.requires_grad
               for p in nonempty(p for m in model.modules()
                                 if isinstance(m, _BatchNorm)
                                 for p in m.parameters()))


def test_conv_cfg():
    from mmcv.cnn.bricks.conv_ws import ConvWS2d
    model = IResNet(depth=50, base_channels=8, conv_cfg=dict(type='ConvWS'))
    assert isinstance(model.conv1, ConvWS2d)
    assert isinstance(model.layer3[2].conv2, ConvWS2d)
    assert isinstance(model.layer2[0].downsample[1], ConvWS2d)
    model.eval()(torch.rand(1, 3, 32, 32))


def test_with_cp_recomputes_and_matches():
    torch.manual_seed(0)
    plain = IResNet(depth=18, base_channels=4, norm_eval=True)
    cp_model = IResNet(depth=18, base_channels=4, norm_eval=True, with_cp=True)
    cp_model.load_state_dict(plain.state_dict())
    plain.train(), cp_model.train()
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    import torch.utils.checkpoint as cp
    with mock.patch.object(cp, 'checkpoint', wraps=cp.checkpoint) as spy:
        out_cp = cp_model(x)
    assert spy.call_count == 8  # every block
    out = plain(x)
    for a, b in zip_strict(out, out_cp):
        torch.testing.assert_close(a, b)
    sum(o.sum() for o in out_cp).backward()
    g_cp = [p.grad.clone() for p in cp_model.parameters()]
    sum(o.sum() for o in out).backward()
    for g, p in zip_strict(g_cp, plain.parameters()):
        torch.testing.assert_close(g, p.grad)


def test_zero_init_residual():
    model = IResNet(depth=50, base_channels=8)
    model.init_weights()
    start, first_mid, mid, end = (model.layer2[i] for i in range(4))
    assert torch.all(start.bn3.weight == 0)
    assert torch.all(first_mid.conv3.weight == 0)
    assert torch.all(mid.conv3.weight == 0)
    assert torch.all(end.conv3.weight == 0)
    assert torch.all(end.bn3.weight == 1)  # after-add norm: main path
    assert torch.all(mid.bn0.weight == 1)
    # each block starts as its shortcut
    x = torch.randn(1, 64, 8, 8)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(mid(x), x)
        torch.testing.assert_close(first_mid(x), x)
        # the released start block: its shortcut, rectified on the main path
        x0 = torch.randn(1, 32, 16, 16)
        torch.testing.assert_close(start(x0), torch.relu(start.downsample(x0)))
    off = IResNet(depth=50, base_channels=8, zero_init_residual=False)
    off.init_weights()
    assert not torch.all(off.layer2[0].bn3.weight == 0)
    assert not torch.all(off.layer2[1].conv3.weight == 0)
    basic = IResNet(depth=18, base_channels=8)
    basic.init_weights()
    assert torch.all(basic.layer1[0].bn2.weight == 0)
    assert torch.all(basic.layer1[1].conv2.weight == 0)
    assert torch.all(basic.layer1[1].bn2.weight == 1)


@pytest.mark.parametrize('dcn', [
    dict(type='DCN', deform_groups=1, fallback_on_stride=False),
    dict(type='DCNv2', deform_groups=1, fallback_on_stride=False),
])
def test_dcn(dcn):
    from mmcv.ops import DeformConv2dPack, ModulatedDeformConv2dPack
    cls = DeformConv2dPack if dcn['type'] == 'DCN' else \
        ModulatedDeformConv2dPack
    model = IResNet(
        depth=50,
        base_channels=8,
        dcn=dcn,
        stage_with_dcn=(False, True, True, True))
    assert not isinstance(model.layer1[0].conv2, cls)
    assert isinstance(model.layer2[0].conv2, cls)
    assert isinstance(model.layer4[2].conv2, cls)
    assert not isinstance(model.layer4[2].conv1, cls)
    outs = model.eval()(torch.rand(1, 3, 128, 128))
    assert outs[3].shape == (1, 256, 4, 4)
    fallback = IResNet(
        depth=50,
        base_channels=8,
        dcn=dict(dcn, fallback_on_stride=True),
        stage_with_dcn=(False, True, True, True))
    assert not isinstance(fallback.layer2[0].conv2, cls)  # strided
    assert isinstance(fallback.layer2[1].conv2, cls)
    with pytest.raises(ValueError, match='stage_with_dcn'):
        IResNet(depth=50, dcn=dcn, stage_with_dcn=(True, ))


def test_plugins():
    from mmcv.cnn.bricks import ContextBlock, GeneralizedAttention
    plugins = [
        dict(
            cfg=dict(type='ContextBlock', ratio=1. / 4),
            stages=(False, True, True, True),
            position='after_conv3'),
        dict(
            cfg=dict(
                type='GeneralizedAttention',
                spatial_range=-1,
                num_heads=2,
                attention_type='0010',
                kv_stride=2),
            stages=(False, False, True, True),
            position='after_conv2'),
    ]
    model = IResNet(depth=50, base_channels=8, plugins=plugins).eval()
    assert not any(
        isinstance(m, ContextBlock) for m in nonempty(model.layer1.modules()))
    block = model.layer3[1]
    assert isinstance(block.context_block, ContextBlock)
    assert block.context_block.in_channels == 128
    assert isinstance(block.gen_attention_block, GeneralizedAttention)
    assert block.plugin_names[2] == ['gen_attention_block']
    with mock.patch.object(
            ContextBlock,
            'forward',
            side_effect=lambda x: x * 0 + 7,
            autospec=False) as fwd:
        model(torch.rand(1, 3, 64, 64))
    assert fwd.call_count == sum(model.stage_blocks[1:])
    with pytest.raises(ValueError, match='position'):
        IResNet(
            depth=50,
            plugins=[
                dict(
                    cfg=dict(type='ContextBlock', ratio=0.25),
                    position='after_conv4')
            ])


def test_deep_stem_and_avg_down():
    model = IResNet(
        depth=50, base_channels=8, deep_stem=True, avg_down=True).eval()
    assert not hasattr(model, 'conv1')
    convs = [m for m in model.stem if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [4, 4, 8]
    assert [c.stride for c in convs] == [(2, 2), (1, 1), (1, 1)]
    ds = model.layer2[0].downsample
    assert isinstance(ds[0], nn.AvgPool2d) and ds[0].kernel_size == 2
    assert ds[1].stride == (1, 1)
    assert model(torch.rand(1, 3, 64, 64))[0].shape == (1, 32, 16, 16)


def test_stem_and_base_channels_and_in_channels():
    model = IResNet(
        depth=18, stem_channels=16, base_channels=8, in_channels=1).eval()
    assert model.conv1.in_channels == 1 and model.conv1.out_channels == 16
    assert model.layer1[0].conv1.in_channels == 16
    assert model(torch.rand(1, 1, 32, 32))[0].shape[1] == 8


def test_init_cfg_pretrained_loads_weights(tmp_path):
    torch.manual_seed(0)
    src = IResNet(depth=18, base_channels=4)
    src.init_weights()
    # trained-like weights: nothing zero where zero_init_residual zeroes
    for p in src.parameters():
        p.data.normal_()
    path = str(tmp_path / 'w.pth')
    torch.save(src.state_dict(), path)
    model = IResNet(
        depth=18,
        base_channels=4,
        init_cfg=dict(type='Pretrained', checkpoint=path))
    model.init_weights()
    for k, v in src.state_dict().items():
        torch.testing.assert_close(model.state_dict()[k], v)
    # zero_init_residual (on by default) does not overwrite loaded weights:
    # without the checkpoint these are zero
    fresh = IResNet(depth=18, base_channels=4)
    fresh.init_weights()
    for name in ('layer1.1.conv2.weight', 'layer1.0.bn2.weight'):
        assert torch.all(fresh.state_dict()[name] == 0)
        assert torch.all(model.state_dict()[name] != 0)
    with pytest.warns(UserWarning, match='pretrained is deprecated'):
        legacy = IResNet(depth=18, base_channels=4, pretrained=path)
    legacy.init_weights()
    torch.testing.assert_close(legacy.conv1.weight, src.conv1.weight)


def test_missing_pretrained_names_the_path(tmp_path):
    """(tools/train.py names the converter before the run starts: see
    test_bad_inputs.)"""
    path = str(tmp_path / 'nope.pth')
    model = IResNet(
        depth=18,
        base_channels=4,
        init_cfg=dict(type='Pretrained', checkpoint=path))
    with pytest.raises(FileNotFoundError, match=path):
        model.init_weights()


# -------------------------------------------------------------- bad input
@pytest.mark.parametrize('kwargs,match', [
    (dict(depth=20), r'valid depths: \[18, 34, 50'),
    (dict(depth=None), 'valid depths'),
    (dict(depth=50, strides=(1, 2, 2)), 'strides has 3 entries'),
    (dict(depth=50, dilations=(1, 1)), 'dilations has 2 entries'),
    (dict(depth=None, stage_blocks=(2, 2)), 'stage_blocks has 2 entries'),
    (dict(depth=None, stage_blocks=(2, 0, 2, 2)), 'must all be >= 1'),
    (dict(depth=50, out_indices=(0, 4)), 'out_indices'),
    (dict(depth=50, frozen_stages=5), r'frozen_stages must be in -1\.\.4'),
    (dict(depth=50, frozen_stages=-2), 'frozen_stages'),
    (dict(depth=50, num_stages=5), 'num_stages must be 1..4'),
    (dict(depth=50, style='tf'), 'style'),
    (dict(depth=50, ordering='bogus'), 'unknown ordering'),
    (dict(depth=50, projection='bogus'), 'unknown projection'),
    (dict(depth=50, block='wide'), 'unknown block'),
    (dict(depth=18, groups=32), 'bottleneck'),
    (dict(
        depth=50,
        pretrained='a.pth',
        init_cfg=dict(type='Pretrained',
                      checkpoint='b')), 'cannot be specified'),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises((ValueError, KeyError), match=match):
        IResNet(**kwargs)


def test_unknown_depth_is_a_key_error_like_mmdet():
    with pytest.raises(KeyError):
        IResNet(depth=42)


def test_bad_forward_input():
    model = IResNet(depth=18, base_channels=4).eval()
    with pytest.raises(ValueError, match='in_channels=3 but the input has 1'):
        model(torch.rand(1, 1, 32, 32))
    with pytest.raises(ValueError, match=r'4D input \(N, C, H, W\)'):
        model(torch.rand(1, 3, 4, 32, 32))
    with pytest.raises(ValueError, match='empty input'):
        model(torch.rand(1, 3, 0, 32))


@pytest.mark.parametrize('kwargs',
                         [{},
                          dict(depth=50, avg_down=True),
                          dict(deep_stem=True),
                          dict(strides=(1, 2, 2, 1), dilations=(1, 1, 2, 4))])
def test_accepts_every_input_size_mmdet_resnet_accepts(kwargs):
    """Not stricter than what it replaces: from 1x1 up, every size gives
    the output sizes of mmdet's ResNet (e.g. 16x16 -> 1x1 at stage 4)."""
    kwargs = dict(dict(depth=18), **kwargs)
    ours = IResNet(base_channels=4, **kwargs).eval()
    theirs = ResNet(base_channels=4, **kwargs)
    theirs.eval()  # mmdet's train() returns None
    with torch.no_grad():
        for h, w in [(1, 1), (3, 2), (16, 16), (17, 30), (33, 7)]:
            x = torch.rand(1, 3, h, w)
            assert [o.shape for o in ours(x)] == [o.shape for o in theirs(x)]


@pytest.mark.parametrize('ordering', ['resstage', 'resstage_paper'])
def test_single_block_stage(ordering):
    model = IResNet(
        depth=None,
        stage_blocks=(1, 1, 1, 1),
        block='bottleneck',
        base_channels=4,
        ordering=ordering).eval()
    block = model.layer1[0]
    assert block.layout == ORDERINGS[ordering]['single']
    outs = model(torch.rand(1, 3, 32, 32))
    assert all((o >= 0).all() for o in nonempty(outs))  # the stage's one ReLU
    assert relu_count_on_main_path(model) == 4
