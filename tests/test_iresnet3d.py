"""IResNet3d / IResNet3dSlowOnly: mmaction2 3D backbones."""
from unittest import mock

import pytest
import torch
import torch.nn as nn
from mmengine.logging import MMLogger
from torch.nn.modules.batchnorm import _BatchNorm

from mm_iresnet.models import IResNet, IResNet3d, IResNet3dSlowOnly, ResBlock
from mm_iresnet.models.layers import SeparableMaxPool
from .helpers import nonempty, randomise_bn, zip_strict

I3D_INFLATE = ((1, 1, 1), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 1, 0))


@pytest.mark.parametrize('depth', [18, 34, 50, 101])
@pytest.mark.parametrize('inflate_style', ['3x1x1', '3x3x3'])
@pytest.mark.parametrize('temporal_strides', [(1, 1, 1, 1), (1, 2, 2, 1)])
def test_shapes(depth, inflate_style, temporal_strides):
    base = 4
    model = IResNet3d(
        depth=depth,
        base_channels=base,
        inflate_style=inflate_style,
        temporal_strides=temporal_strides,
        out_indices=(0, 1, 2, 3)).eval()
    expansion = 1 if depth < 50 else 4
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 8, 64, 64))
    t = 8 // 2  # pool2
    for i, out in enumerate(outs):
        t = t // temporal_strides[i] if i > 0 else t
        assert out.shape == (1, base * 2**i * expansion, t, 64 // 2**(i + 2),
                             64 // 2**(i + 2))
    kernels = model.layer2[0].conv1.kernel_size, \
        model.layer2[0].conv2.kernel_size
    if depth < 50:
        assert kernels == ((3, 3, 3), (3, 3, 3))
    elif inflate_style == '3x1x1':
        assert kernels == ((3, 1, 1), (1, 3, 3))
    else:
        assert kernels == ((1, 1, 1), (3, 3, 3))


@pytest.mark.parametrize('kwargs', [
    dict(),
    dict(
        conv1_kernel=(5, 7, 7),
        conv1_stride_t=2,
        pool1_stride_t=2,
        inflate=I3D_INFLATE),
    dict(conv1_kernel=(1, 7, 7), inflate=(0, 0, 1, 1), with_pool2=False),
    dict(with_pool1=False),
    dict(spatial_strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2)),
])
def test_output_size_and_params_match_mmaction_resnet3d(kwargs):
    """Same output size in time and space as mmaction's ResNet3d for the
    same arguments (iResNet moves the stem pool's strides into stage 1),
    and the same parameter count."""
    from mmaction.models import ResNet3d
    ours = IResNet3d(depth=50, base_channels=8, **kwargs).eval()
    theirs = ResNet3d(depth=50, base_channels=8, pretrained=None, **kwargs)
    theirs.eval()  # mmaction's train() returns None
    with torch.no_grad():  # small inputs too: not stricter than mmaction
        for shape in [(16, 64, 64), (8, 16, 16), (6, 3, 5), (6, 1, 1)]:
            x = torch.rand(1, 3, *shape)
            assert ours(x).shape == theirs(x).shape
    assert sum(p.numel() for p in ours.parameters()) == \
        sum(p.numel() for p in theirs.parameters())


def test_stem_pool_spatial_stride_moves_time_stride_stays():
    """The stem pool's spatial stride moves into stage 1; its temporal
    stride (kernel 1 in mmaction: frame subsampling) stays in the stem."""
    model = IResNet3d(
        depth=50,
        base_channels=8,
        conv1_kernel=(5, 7, 7),
        conv1_stride_t=2,
        pool1_stride_t=2)
    assert model.conv1.kernel_size == (5, 7, 7)
    assert model.conv1.stride == (2, 2, 2)
    assert isinstance(model.maxpool, nn.MaxPool3d)
    assert model.maxpool.kernel_size == 1
    assert model.maxpool.stride == (2, 1, 1)
    start = model.layer1[0]
    assert start.conv2.stride == (1, 2, 2)
    pool = start.downsample[0]
    assert isinstance(pool, SeparableMaxPool) and pool.dim == 3
    assert pool.kernel_size == (1, 3, 3) and pool.stride == (1, 2, 2)
    x = torch.rand(1, 3, 8, 32, 32)
    with torch.no_grad():
        stem = model.forward_stem(x)
        full = model.bn1(model.conv1(x)).relu()
    torch.testing.assert_close(stem, full[:, :, ::2])  # subsampled frames
    # no temporal pool stride: nothing in the stem
    assert not hasattr(IResNet3d(depth=18, base_channels=4), 'maxpool')
    kept = IResNet3d(depth=50, base_channels=8, stem_pool=True)
    assert kept.maxpool.kernel_size == (1, 3, 3)
    assert kept.layer1[0].conv2.stride == (1, 1, 1)


def test_3d_flops_ratio_is_the_2d_one():
    """With the time stride kept in the stem, stage 1 runs at mmaction's
    frame rate: where stage 1 is not inflated, the FLOPs ratio to mmaction's
    ResNet3d is the 2D ratio to mmdet's ResNet (the extra cost is stage 1's
    first 1x1 conv at twice the resolution). I3D inflates that conv to
    3x1x1, which triples its extra cost: 1.028, down from 1.063 when the time
    stride moved into stage 1 too."""
    from mmaction.models import ResNet3d
    from mmdet.models.backbones import ResNet
    from mmengine.analysis import FlopAnalyzer

    def flops(model, shape):
        model.eval()  # mmdet's / mmaction's train() return None
        return FlopAnalyzer(model, torch.rand(*shape)).total()

    def ratio3d(**kwargs):
        return flops(IResNet3d(depth=50, **kwargs), (1, 3, 8, 96, 96)) / \
            flops(ResNet3d(depth=50, pretrained=None, **kwargs),
                  (1, 3, 8, 96, 96))

    i3d = dict(conv1_kernel=(5, 7, 7), conv1_stride_t=2, pool1_stride_t=2)
    ratio2d = flops(IResNet(depth=50), (1, 3, 96, 96)) / \
        flops(ResNet(depth=50), (1, 3, 96, 96))
    flat_stage1 = ((0, 0, 0), ) + I3D_INFLATE[1:]
    assert abs(ratio3d(inflate=flat_stage1, **i3d) - ratio2d) < 0.002
    assert abs(
        ratio3d(
            conv1_kernel=(1, 7, 7), inflate=(0, 0, 1, 1), with_pool2=False) -
        ratio2d) < 0.003
    assert ratio3d(inflate=I3D_INFLATE, **i3d) < 1.03


@pytest.mark.parametrize('kwargs,match', [
    (dict(deep_stem=True,
          conv1_kernel=(3, 5, 5)), 'conv1_kernel=\\(3, 3, 3\\)'),
    (dict(cifar_stem=True), 'set conv1_stride_s=1 and with_pool1=False'),
    (dict(conv1_kernel=(3, 7, 5)), 'must be square'),
])
def test_3d_stem_variants_reject_what_they_cannot_build(kwargs, match):
    with pytest.raises(ValueError, match=match):
        IResNet3d(depth=18, base_channels=4, **kwargs)


def test_3d_deep_and_cifar_stems_honour_time_arguments():
    deep = IResNet3d(
        depth=18,
        base_channels=8,
        deep_stem=True,
        conv1_kernel=(5, 7, 7),
        conv1_stride_t=2)
    first = deep.stem[0]
    assert first.kernel_size == (5, 3, 3) and first.stride == (2, 2, 2)
    assert deep.stem[3].kernel_size == (1, 3, 3)
    cifar = IResNet3d(
        depth=18,
        base_channels=8,
        cifar_stem=True,
        conv1_kernel=(3, 3, 3),
        conv1_stride_s=1,
        conv1_stride_t=2,
        with_pool1=False)
    assert cifar.conv1.kernel_size == (3, 3, 3)
    assert cifar.conv1.stride == (2, 1, 1)
    with torch.no_grad():
        out = cifar.eval()(torch.rand(1, 3, 8, 32, 32))
    assert out.shape[2:] == (2, 4, 4)  # time: /2 conv1, /2 pool2


def test_inflate_per_block_and_non_local():
    model = IResNet3d(
        depth=50,
        base_channels=8,
        inflate=I3D_INFLATE,
        non_local=((0, 0, 0), (0, 1, 0, 1), (0, 0, 0, 0, 0, 0), (0, 0, 0)),
        non_local_cfg=dict(
            sub_sample=True,
            use_scale=False,
            norm_cfg=dict(type='BN3d', requires_grad=True),
            mode='embedded_gaussian'))
    from mmcv.cnn import NonLocal3d
    assert [b.conv1.kernel_size[0] for b in model.layer2] == [3, 1, 3, 1]
    assert [b.non_local_block is not None for b in model.layer2] == \
        [False, True, False, True]
    assert isinstance(model.layer2[1].non_local_block, NonLocal3d)
    model.eval()(torch.rand(1, 3, 8, 64, 64))
    with pytest.raises(ValueError, match='stage 2 has 3 entries'):
        IResNet3d(depth=50, inflate=((1, 1, 1), (1, 0, 1), 1, 1))


def _inflation_pair(tmp_path, depth, conv_cfg):
    torch.manual_seed(0)
    model2d = IResNet(depth=depth, base_channels=8)
    model2d.init_weights()
    randomise_bn(model2d)
    path = str(tmp_path / '2d.pth')
    torch.save({'state_dict': model2d.state_dict()}, path)
    model3d = IResNet3d(
        depth=depth,
        base_channels=8,
        pretrained=path,
        out_indices=(0, 1, 2, 3),
        conv_cfg=conv_cfg,
        with_pool2=False)
    model3d.init_weights()
    return model2d.eval(), model3d.eval()


@pytest.mark.parametrize('depth', [18, 50])
def test_inflation_identity_on_a_boring_clip(tmp_path, depth):
    """Inflated weights + a clip of identical frames: each time step of the
    3D output equals the 2D output on the frame (1e-5)."""
    model2d, model3d = _inflation_pair(tmp_path, depth,
                                       dict(type='Conv3dReplicateTime'))
    report = model3d.inflation_report
    assert not report.missing and not report.mismatched
    assert report.inflated and 'conv1.weight' in report.inflated
    frame = torch.rand(2, 3, 64, 64)
    clip = frame[:, :, None].expand(-1, -1, 6, -1, -1).contiguous()
    with torch.no_grad():
        for a, b in zip_strict(model2d(frame), model3d(clip)):
            assert b.shape[2] == 6
            torch.testing.assert_close(
                b, a[:, :, None].expand_as(b), rtol=1e-5, atol=1e-5)


def test_inflation_with_zero_time_padding_holds_in_the_middle(tmp_path):
    """With mmaction's zero padding the identity holds where no temporal
    conv reaches past the clip (the middle of a long clip, shallow stage)."""
    model2d, model3d = _inflation_pair(tmp_path, 18, None)
    frame = torch.rand(1, 3, 32, 32)
    clip = frame[:, :, None].expand(-1, -1, 24, -1, -1).contiguous()
    with torch.no_grad():
        a, b = model2d(frame)[0], model3d(clip)[0]
    torch.testing.assert_close(b[:, :, 12], a, rtol=1e-5, atol=1e-5)
    assert (b[:, :, 0] - a).abs().max() > 1e-3  # the border differs


def test_inflation_kernel_rule_and_report(tmp_path):
    model2d = IResNet(depth=50, base_channels=8)
    sd = model2d.state_dict()
    sd['fc.weight'] = torch.zeros(3, 256)
    del sd['layer1.0.bn1.weight']
    path = str(tmp_path / 'w.pth')
    torch.save(sd, path)
    model3d = IResNet3d(depth=50, base_channels=8, pretrained=path)
    with mock.patch.object(MMLogger, 'warning') as warn:
        model3d.init_weights()
    text = ' '.join(str(c) for c in warn.call_args_list)
    assert 'layer1.0.bn1.weight' in text and 'fc.weight' in text
    w3 = model3d.layer1[0].conv1.weight  # (3,1,1) in 3x1x1 style
    w2 = sd['layer1.0.conv1.weight']
    torch.testing.assert_close(w3, w2.unsqueeze(2).expand_as(w3) / 3)
    torch.testing.assert_close(model3d.layer1[0].bn2.weight,
                               sd['layer1.0.bn2.weight'])


def test_init_cfg_pretrained_also_inflates(tmp_path):
    model2d = IResNet(depth=18, base_channels=8)
    model2d.init_weights()
    path = str(tmp_path / 'w.pth')
    torch.save(model2d.state_dict(), path)
    model3d = IResNet3d(
        depth=18,
        base_channels=8,
        init_cfg=dict(type='Pretrained', checkpoint=path))
    model3d.init_weights()
    w = model3d.layer2[1].conv2.weight
    torch.testing.assert_close(
        w, model2d.layer2[1].conv2.weight.unsqueeze(2).expand_as(w) / 3)


def test_pretrained_3d_checkpoint_loads_directly(tmp_path):
    src = IResNet3d(depth=18, base_channels=4)
    src.init_weights()
    path = str(tmp_path / '3d.pth')
    torch.save({'state_dict': src.state_dict()}, path)
    model = IResNet3d(
        depth=18, base_channels=4, pretrained=path, pretrained2d=False)
    model.init_weights()
    for k, v in src.state_dict().items():
        torch.testing.assert_close(model.state_dict()[k], v)


def test_missing_2d_checkpoint_names_the_path(tmp_path):
    """(tools/train.py names the converter before the run starts: see
    test_bad_inputs.)"""
    path = str(tmp_path / 'none.pth')
    model = IResNet3d(depth=18, base_channels=4, pretrained=path)
    with pytest.raises(FileNotFoundError, match=path):
        model.init_weights()


def test_frozen_stages_norm_eval_with_cp():
    model = IResNet3d(
        depth=18, base_channels=4, frozen_stages=1, norm_eval=True)
    model.train()
    assert all(not p.requires_grad for p in nonempty(model.conv1.parameters()))
    assert all(not p.requires_grad
               for p in nonempty(model.layer1.parameters()))
    assert all(p.requires_grad for p in nonempty(model.layer2.parameters()))
    assert all(not m.training for m in nonempty(m for m in model.modules()
                                                if isinstance(m, _BatchNorm)))
    assert model.layer2[0].conv1.training
    default = IResNet3d(depth=18, base_channels=4)
    default.train()
    assert all(
        m.training for m in nonempty(
            m for m in default.modules()
            if isinstance(m, _BatchNorm)))  # mmaction default False
    torch.manual_seed(0)
    cp_model = IResNet3d(depth=18, base_channels=4, with_cp=True)
    cp_model.load_state_dict(default.state_dict())
    x = torch.rand(2, 3, 4, 32, 32, requires_grad=True)
    import torch.utils.checkpoint as cp
    with mock.patch.object(cp, 'checkpoint', wraps=cp.checkpoint) as spy:
        out = cp_model(x)
    assert spy.call_count == 8
    torch.testing.assert_close(out, default(x))


def test_3d_bad_inputs():
    model = IResNet3d(depth=18, base_channels=4).eval()
    with pytest.raises(ValueError, match=r'5D input \(N, C, T, H, W\)'):
        model(torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match='inflate_style'):
        IResNet3d(inflate_style='2x1x1')
    with pytest.raises(ValueError, match='temporal_strides has 3'):
        IResNet3d(temporal_strides=(1, 1, 1))
    with pytest.raises(ValueError, match='lateral'):
        IResNet3d(lateral=True)
    with pytest.raises(KeyError):
        IResNet3d(depth=42)


def test_slowonly_preset():
    model = IResNet3dSlowOnly(depth=50, base_channels=4).eval()
    assert model.conv1.kernel_size == (1, 7, 7)
    assert not model.with_pool2
    assert model.layer2[0].conv1.kernel_size == (1, 1, 1)
    assert model.layer3[0].conv1.kernel_size == (3, 1, 1)
    assert model(torch.rand(1, 3, 8, 64, 64)).shape == (1, 128, 8, 2, 2)


def test_one_block_implementation_for_2d_and_3d():
    b2 = IResNet(depth=50, base_channels=4).layer2[1]
    b3 = IResNet3d(depth=50, base_channels=4).layer2[1]
    assert type(b2) is type(b3) is ResBlock
    assert list(b2.state_dict()) == list(b3.state_dict())
