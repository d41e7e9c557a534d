"""The mmaction2 backbone family beyond I3D: 2D ResNet (TSN), TSM with
non-local and temporal pooling, SlowFast, CSN, R(2+1)D, TANet, C2D — each
against mmaction2's own class for the same arguments."""
import copy

import pytest
import torch
import torch.nn as nn
from mmengine.registry import init_default_scope

from mm_iresnet.models import (IC2D, IResNet, IResNet2Plus1d, IResNet3dCSN,
                               IResNet3dSlowFast, IResNetAction, IResNetTSM,
                               ITANet)
from .helpers import n_params, nonempty, randomise_bn


def outputs(model, x):
    model.eval()  # mmaction's train() returns None
    with torch.no_grad():
        out = model(x)
    return [o.shape for o in out] if isinstance(out, tuple) else out.shape


def same_as_mmaction(ours, theirs, x):
    """Same output sizes and parameter count as mmaction's backbone."""
    assert outputs(ours, x) == outputs(theirs, x)
    assert n_params(ours) == n_params(theirs)


# ------------------------------------------------------------------ 2D
def test_type_iresnet_in_mmaction_configs_is_the_mmaction_flavour():
    from mmaction.registry import MODELS as ACTION
    from mmdet.registry import MODELS as DET
    init_default_scope('mmaction')
    action = ACTION.build(
        dict(
            type='IResNet',
            depth=18,
            partial_bn=True,
            torchvision_pretrain=False))
    assert type(action) is IResNetAction
    init_default_scope('mmdet')
    det = DET.build(dict(type='IResNet', depth=18))
    assert type(det) is IResNet
    x = torch.rand(2, 3, 64, 64)
    assert isinstance(action.eval()(x), torch.Tensor)  # mmaction: a tensor
    assert isinstance(det.eval()(x), tuple)  # mmdet: always a tuple
    assert not action.norm_eval and det.norm_eval


def test_iresnet_action_matches_mmaction_resnet_sizes_and_partial_bn():
    from mmaction.models import ResNet
    for kwargs in (dict(depth=50), dict(depth=18, out_indices=(1, 3))):
        same_as_mmaction(
            IResNetAction(**kwargs), ResNet(pretrained=None, **kwargs),
            torch.rand(2, 3, 64, 64))
    model = IResNetAction(depth=18, partial_bn=True).train()
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns[0].training and bns[0].weight.requires_grad
    assert not any(
        m.training or m.weight.requires_grad for m in nonempty(bns[1:]))
    assert all(
        m.training for m in nonempty(
            m for m in IResNetAction(depth=18).train().modules()
            if isinstance(m, nn.BatchNorm2d)))


class _ConvModuleLike(nn.Module):
    """mmaction's 'blockres' shift wraps ``block.conv1.conv`` (its blocks'
    conv1 is a ConvModule): this gives our bare conv1 that attribute."""

    def __init__(self, conv):
        super().__init__()
        self.conv = conv

    def forward(self, x):
        return self.conv(x)


def mmaction_tsm(kwargs, state_dict):
    """The same 2D network and weights without our temporal operations,
    then given them by mmaction's own ``ResNetTSM.init_structure`` (its
    shift places, segments per stage, TemporalShift, TemporalPool and
    NL3DWrapper)."""
    from types import MethodType, SimpleNamespace

    from mmaction.models import ResNetTSM
    plain = IResNetTSM(**dict(kwargs, is_shift=False, temporal_pool=False))
    plain.load_state_dict(state_dict)
    non_local = {}
    for i, name in enumerate(plain.res_layers):
        for j, block in enumerate(getattr(plain, name)):
            block.conv1 = _ConvModuleLike(block.conv1)
            if block.non_local_block is not None:  # NL3DWrapper adds it
                non_local[i, j] = block.non_local_block
                block.non_local_block = None
                block.conv3.norm = SimpleNamespace(
                    num_features=block.out_channels)
    plain.is_shift = kwargs.get('is_shift', True)
    plain.temporal_pool = kwargs.get('temporal_pool', False)
    plain.non_local_cfg = kwargs.get('non_local_cfg', {})
    plain.non_local_stages = kwargs.get('non_local', (0, 0, 0, 0))
    for name in ('make_temporal_shift', 'make_non_local',
                 'make_temporal_pool'):
        setattr(plain, name, MethodType(getattr(ResNetTSM, name), plain))
    ResNetTSM.init_structure(plain)
    # the blocks of each stage (mmaction's TemporalPool wraps stage 2)
    stages = [
        getattr(getattr(plain, name), 'net', getattr(plain, name))
        for name in plain.res_layers
    ]
    wrapped = {(i, j)
               for i, stage in enumerate(stages)
               for j, m in enumerate(stage)
               if type(m).__name__ == 'NL3DWrapper'}
    assert wrapped == set(non_local)
    for (i, j), ours in non_local.items():
        stages[i][j].non_local_block.load_state_dict(ours.state_dict())
    return plain


@pytest.mark.parametrize(
    'kwargs',
    [
        dict(depth=18),
        dict(depth=18, shift_place='block'),
        dict(depth=18, shift_div=4, num_segments=2),
        dict(depth=18, temporal_pool=True),
        dict(depth=50, temporal_pool=True, shift_place='block'),
        dict(depth=101, base_channels=4),  # every other block of a stage
        dict(
            depth=50,
            non_local=((0, 0, 0), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 0, 0)),
            non_local_cfg=dict(
                sub_sample=True,
                use_scale=False,
                norm_cfg=dict(type='BN3d', requires_grad=True),
                mode='dot_product')),
    ],
    ids=[
        'blockres', 'block', 'shift_div-num_segments', 'temporal_pool',
        'temporal_pool-block', 'depth101', 'non_local'
    ])
def test_tsm_computes_what_mmaction_tsm_structure_computes(kwargs):
    """Each ResNetTSM argument does what mmaction does with it: the same
    weights, shifted, pooled and non-local'd by mmaction's own code (on a
    copy without ours) give the same features; and those differ from the
    network without temporal operations, so the comparison can fail."""
    torch.manual_seed(0)
    kwargs = dict(
        dict(num_segments=4, base_channels=8, zero_init_residual=False),
        **kwargs)
    ours = IResNetTSM(**kwargs)
    ours.init_weights()
    randomise_bn(ours)
    for m in ours.modules():  # mmcv zero-initialises the output conv
        if type(m).__name__ == 'SegmentNonLocal':
            nn.init.normal_(m.conv_out.conv.weight, std=0.1)
    reference = mmaction_tsm(kwargs, ours.state_dict())
    plain = IResNetTSM(
        **dict(kwargs, is_shift=False, temporal_pool=False, non_local_cfg={}))
    missing, unexpected = plain.load_state_dict(
        ours.state_dict(), strict=False)
    assert not missing and all('non_local' in k for k in unexpected)
    # the keys only the non-local blocks have, exactly where there are some
    assert bool(unexpected) == ('non_local' in kwargs)
    x = torch.rand(2 * kwargs['num_segments'], 3, 32, 32)
    with torch.no_grad():
        mine = ours.eval()(x)
        theirs = reference.eval()(x)
        without = plain.eval()(x)
    torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-5)
    if kwargs.get('temporal_pool'):
        assert mine.shape[0] * 2 == without.shape[0]
    else:
        assert (mine - without).abs().max() > 1e-3 * without.abs().max()


@pytest.mark.parametrize('temporal_pool', [False, True])
def test_tsm_non_local_mixes_the_segments_of_a_clip_only(temporal_pool):
    """By design, after ``temporal_pool`` the non-local blocks see the
    halved segments of each clip (mmaction's NL3DWrapper keeps
    ``num_segments`` and so mixes clips, or fails on one clip)."""
    torch.manual_seed(0)
    model = IResNetTSM(
        depth=50,
        base_channels=8,
        num_segments=4,
        is_shift=False,
        non_local=(0, 0, 1, 0),
        temporal_pool=temporal_pool,
        non_local_cfg=dict(sub_sample=False)).eval()
    frames = 2 if temporal_pool else 4  # per clip, in stage 3
    assert model.layer3[0].non_local_block.num_segments == frames
    randomise_bn(model)
    for m in model.modules():  # mmcv zero-initialises the output conv
        if type(m).__name__ == 'SegmentNonLocal':
            nn.init.normal_(m.conv_out.conv.weight, std=0.1)
    x = torch.rand(8, 3, 32, 32)
    y = x.clone()
    y[1] += 1  # one frame of clip 0
    with torch.no_grad():
        changed = (model(x) - model(y)).flatten(1).abs().amax(1) > 1e-6
    assert changed.shape == (2 * frames, )
    assert changed[:frames].all() and not changed[frames:].any()


def test_tanet_puts_tam_after_the_first_conv_of_every_block():
    from mmaction.models import TANet
    ours = ITANet(depth=50, num_segments=4)
    theirs = TANet(depth=50, num_segments=4, pretrained=None)
    same_as_mmaction(ours, theirs, torch.rand(8, 3, 64, 64))
    assert all(
        hasattr(b, 'tam') and b.plugin_names[1] == ['tam'] for b in nonempty(
            b for layer in (ours.layer1, ours.layer4) for b in layer))
    with pytest.raises(ValueError, match='num_segments >= 3'):
        ITANet(depth=50, num_segments=2)


def test_c2d_pools_time_after_stage_one():
    from mmaction.models import C2D
    ours, theirs = IC2D(depth=50), C2D(depth=50, pretrained=None)
    x = torch.rand(1, 3, 8, 64, 64)
    assert outputs(ours, x)[:3] == outputs(theirs, x)[:3]  # N, C, T
    assert n_params(ours) == n_params(theirs)
    assert outputs(ours, x) == (1, 2048, 4, 2, 2)
    with pytest.raises(ValueError, match=r'expects clips \(N, C, T, H, W\)'):
        ours(torch.rand(2, 3, 64, 64))


# ------------------------------------------------------------------ 3D
SLOWFAST = [
    dict(resample_rate=8, speed_ratio=8, channel_ratio=8),
    dict(
        resample_rate=4,
        speed_ratio=4,
        channel_ratio=8,
        slow_pathway=dict(
            type='resnet3d',
            depth=50,
            pretrained=None,
            lateral=True,
            conv1_kernel=(1, 7, 7),
            dilations=(1, 1, 1, 1),
            conv1_stride_t=1,
            pool1_stride_t=1,
            inflate=(0, 0, 1, 1),
            fusion_kernel=7,
            lateral_norm=True)),
]


@pytest.mark.parametrize('kwargs', SLOWFAST)
def test_slowfast_matches_mmaction_sizes_and_params(kwargs):
    from mmaction.models import ResNet3dSlowFast
    ours = IResNet3dSlowFast(**kwargs)
    theirs = ResNet3dSlowFast(**kwargs)
    same_as_mmaction(ours, theirs, torch.rand(1, 3, 16, 64, 64))
    assert ours.slow_path.layer1[0].conv1.in_channels == 64 + 16
    assert ours.slow_path.lateral_connections == \
        theirs.slow_path.lateral_connections == [
            'layer1_lateral', 'layer2_lateral', 'layer3_lateral']


@pytest.mark.parametrize('frozen_stages', range(-1, 5))
def test_slowfast_freezes_laterals_as_mmaction(frozen_stages):
    """With ``frozen_stages=k`` in both pathways, each lateral of the slow
    pathway is frozen (no grad, eval mode after ``train()``) exactly where
    mmaction's ResNet3dSlowFast freezes it: ``layer{i}_lateral`` for
    i <= k; ``conv1_lateral`` never."""
    from mmaction.models import ResNet3dSlowFast
    pathway = dict(
        type='resnet3d',
        depth=18,
        pretrained=None,
        frozen_stages=frozen_stages,
        lateral_norm=True)
    kwargs = dict(
        slow_pathway=dict(
            pathway,
            lateral=True,
            base_channels=16,
            conv1_kernel=(1, 7, 7),
            inflate=(0, 0, 1, 1)),
        fast_pathway=dict(
            pathway, lateral=False, base_channels=2, conv1_kernel=(5, 7, 7)))
    ours = IResNet3dSlowFast(**copy.deepcopy(kwargs))
    theirs = ResNet3dSlowFast(**copy.deepcopy(kwargs))

    def laterals(model):
        model.train()
        return {
            name:
            (any(p.requires_grad
                 for p in m.parameters()), all(s.training
                                               for s in m.modules()))
            for name, m in model.slow_path.named_children()
            if 'lateral' in name
        }

    assert laterals(ours) == laterals(theirs)
    trains = {f'layer{i}_lateral': i > frozen_stages for i in range(1, 4)}
    trains['conv1_lateral'] = True
    assert laterals(ours) == {k: (v, v) for k, v in trains.items()}


def test_slowfast_slow_pathway_inflation_identity(tmp_path):
    """A 2D iResNet-50 inflated into the slow pathway: on a clip of
    identical frames the slow features are the 2D ones, whatever the fast
    pathway sends (the lateral inputs start at zero)."""
    torch.manual_seed(0)
    net2d = IResNet(depth=50, base_channels=16, out_indices=(3, ))
    net2d.init_weights()
    randomise_bn(net2d)
    torch.save(net2d.state_dict(), tmp_path / 'r2d.pth')
    replicate = dict(type='Conv3dReplicateTime')
    model = IResNet3dSlowFast(
        slow_pathway=dict(
            type='resnet3d',
            depth=50,
            base_channels=16,
            lateral=True,
            conv1_kernel=(1, 7, 7),
            inflate=(0, 0, 1, 1),
            conv_cfg=replicate,
            pretrained=str(tmp_path / 'r2d.pth')),
        fast_pathway=dict(
            type='resnet3d',
            depth=50,
            base_channels=2,
            lateral=False,
            conv1_kernel=(5, 7, 7),
            conv_cfg=replicate))
    model.init_weights()
    report = model.slow_path.inflation_report
    assert not report.mismatched and report.missing == [
        k for k in model.slow_path.state_dict() if 'lateral' in k
    ]
    model.eval()
    frame = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        slow, _ = model(frame.unsqueeze(2).repeat(1, 1, 16, 1, 1))
        expected = net2d.eval()(frame)[0]
    for t in range(slow.shape[2]):
        torch.testing.assert_close(
            slow[:, :, t], expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('mode', ['ir', 'ip'])
def test_csn_matches_mmaction_sizes_and_params(mode):
    from mmaction.models import ResNet3dCSN
    kwargs = dict(depth=50, bottleneck_mode=mode, with_pool2=False)
    ours = IResNet3dCSN(**kwargs)
    same_as_mmaction(ours, ResNet3dCSN(pretrained=None, **kwargs),
                     torch.rand(1, 3, 16, 64, 64))
    conv = ours.layer2[1].conv3 if mode == 'ip' else ours.layer2[1].conv2
    assert conv.groups == conv.in_channels == 128  # channel-separated
    assert conv.kernel_size == (3, 3, 3)
    with pytest.raises(ValueError, match='bottleneck blocks'):
        IResNet3dCSN(depth=18)


def test_csn_bn_frozen():
    model = IResNet3dCSN(
        depth=50, base_channels=8, norm_eval=True, bn_frozen=True).train()
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm3d)]
    assert not any(m.training or m.weight.requires_grad for m in nonempty(bns))


def test_r2plus1d_uses_mmaction_conv2plus1d():
    from mmaction.models import ResNet2Plus1d
    from mmaction.models.common import Conv2plus1d
    init_default_scope('mmaction')  # mmaction finds Conv2plus1d there
    kwargs = dict(
        depth=34,
        norm_eval=False,
        conv1_kernel=(3, 7, 7),
        inflate=(1, 1, 1, 1),
        temporal_strides=(1, 2, 2, 2),
        zero_init_residual=False)
    ours = IResNet2Plus1d(**kwargs)
    theirs = ResNet2Plus1d(
        pretrained=None,
        pretrained2d=False,
        conv_cfg=dict(type='Conv2plus1d'),
        **kwargs)
    same_as_mmaction(ours, theirs, torch.rand(1, 3, 8, 64, 64))
    assert isinstance(ours.layer1[0].conv1, Conv2plus1d)
    with pytest.raises(ValueError, match='pretrained2d=False'):
        IResNet2Plus1d(depth=34, pretrained2d=True)


def test_r2plus1d_zero_init_residual_starts_blocks_as_their_shortcut():
    """mmaction's default zero_init_residual=True: the last conv of each
    middle / end block is a Conv2plus1d; its temporal conv is zeroed after
    the Conv2plus1d initialised itself, so the block starts as identity."""
    torch.manual_seed(0)
    model = IResNet2Plus1d(depth=34, base_channels=4)
    model.init_weights()
    middle = model.layer2[1]
    assert torch.all(middle.conv2.conv_t.weight == 0)
    assert middle.conv2.conv_s.weight.abs().sum() > 0
    x = torch.randn(1, 8, 4, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(middle.eval()(x), x)
    assert torch.all(model.layer2[0].bn2.weight == 0)  # start: its BN
    off = IResNet2Plus1d(depth=34, base_channels=4, zero_init_residual=False)
    off.init_weights()
    assert off.layer2[1].conv2.conv_t.weight.abs().sum() > 0
