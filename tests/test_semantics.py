"""A swapped backbone means what the config says: each class against the
INSTALLED mmdet / mmaction2 class built from the same arguments, over a grid
of the arguments that change what trains (frozen stages, norm modes, partial
BN, ...), not only the zoo's configs.

After ``init_weights()`` and ``.train()`` both networks must have, per
top-level child (stem, each ``layerN``, each lateral, ...), the same total and
trainable parameter counts and the same numbers of norm layers in train and
in eval mode, and they must give the same output shapes. The installed class
is the oracle; where iResNet differs by design the difference is named below
and asserted.

Then functional checks where shapes cannot tell: TSM's shift against
mmaction's own ``TemporalShift.shift``, partial BN and ``norm_eval`` after a
training step.
"""
import copy
import itertools

import pytest
import torch
import torch.nn as nn
from mmengine.registry import init_default_scope
from mmengine.utils.dl_utils import is_norm

from mm_iresnet.models import (IC2D, IResNet, IResNet2Plus1d, IResNet3d,
                               IResNet3dCSN, IResNet3dPathway,
                               IResNet3dSlowFast, IResNet3dSlowOnly,
                               IResNetAction, IResNetTSM, ITANet)
from .helpers import nonempty, zip_strict


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    """The networks here are tiny: one thread is faster than two, and far
    faster when other processes share the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


#: children of the installed class that the iResNet counterpart does not
#: have, by design; each must be parameter-free
ABSENT_BY_DESIGN = {
    'maxpool':
    'iResNet has no stem max-pool: its spatial stride moves into '
    'stage 1 (a 3D stem keeps a kernel-1 pool only to subsample '
    'frames, pool1_stride_t > 1)',
    'maxpool3d_1':
    "C2D's stem max-pool, likewise moved into stage 1",
    'pool2':
    'mmaction builds pool2 even where it never applies it '
    '(with_pool2=False, SlowFast, SlowOnly, R(2+1)D); ours only '
    'where it is applied',
}
#: mmaction's stem is one ConvModule ``conv1`` (conv, norm, activation);
#: ours keeps the 2D checkpoint names ``conv1``, ``bn1``, ``relu``
STEM_AS_CONVMODULE = {'bn1': 'conv1', 'relu': 'conv1'}
#: IC2D's temporal max-pool after stage 1 is mmaction C2D's ``maxpool3d_2``
C2D_NAMES = dict(STEM_AS_CONVMODULE, pool_t='maxpool3d_2')


# ------------------------------------------------------------- measuring
def stats(module):
    """(parameters, trainable parameters, norm layers in train mode, norm
    layers in eval mode)."""
    params = list(module.parameters())
    norms = [m for m in module.modules() if is_norm(m)]
    return (sum(p.numel() for p in params),
            sum(p.numel() for p in params if p.requires_grad),
            sum(m.training for m in norms), sum(not m.training for m in norms))


def per_child(model, rename=None, expand=('slow_path', 'fast_path')):
    """:func:`stats` of each top-level child (a SlowFast's pathways are
    opened one level), children renamed by ``rename`` summed together."""
    out = {}
    for name, child in model.named_children():
        if name in expand:
            for sub, value in per_child(child, rename, ()).items():
                out[f'{name}.{sub}'] = value
            continue
        key = (rename or {}).get(name, name)
        out[key] = tuple(
            a + b
            for a, b in zip_strict(out.get(key, (0, ) * 4), stats(child)))
    return out


def output_shapes(model, x):
    model.eval()
    with torch.no_grad():
        out = model(x)
    return [
        tuple(o.shape)
        for o in (out if isinstance(out, (tuple, list)) else (out, ))
    ]


def assert_same_semantics(ours, theirs, rename=None):
    """Per-child and whole-model :func:`stats` after init and train();
    children only the installed class has must be named by design."""
    for model in (ours, theirs):
        model.init_weights()
        model.train()  # mmaction's train() returns None: do not chain
    mine, reference = per_child(ours, rename), per_child(theirs)
    assert not set(mine) - set(reference), 'children mmaction/mmdet lacks'
    for name in set(reference) - set(mine):
        assert name.split('.')[-1] in ABSENT_BY_DESIGN, name
        assert reference[name] == (0, 0, 0, 0), name
    assert mine == {k: v for k, v in reference.items() if k in mine}
    assert stats(ours) == stats(theirs)


def case_id(kwargs):
    """'frozen_stages=2-norm_eval=True'; long values by their name only."""
    return '-'.join(f'{k}={v}' if len(str(v)) <= 24 else k
                    for k, v in kwargs.items()) or 'defaults'


def cases(*grids):
    """pytest params named by their arguments (a failure names them)."""
    params = [kw for grid in grids for kw in grid]
    return [pytest.param(kw, id=case_id(kw)) for kw in params]


def product(**axes):
    return [
        dict(zip(axes, values)) for values in itertools.product(*axes.values())
    ]


FROZEN_NORM = product(frozen_stages=range(-1, 5), norm_eval=(False, True))


# ------------------------------------------------------------------ mmdet
@pytest.mark.parametrize(
    'kwargs',
    cases(FROZEN_NORM, [
        dict(with_cp=True, frozen_stages=1),
        dict(zero_init_residual=False),
        dict(out_indices=(0, 2)),
        dict(out_indices=(3, )),
        dict(style='caffe', frozen_stages=2),
        dict(deep_stem=True, frozen_stages=0),
        dict(deep_stem=True, avg_down=True, frozen_stages=1, norm_eval=False),
        dict(norm_cfg=dict(type='BN', requires_grad=False), norm_eval=False),
        dict(
            norm_cfg=dict(type='GN', num_groups=2, requires_grad=True),
            frozen_stages=1),
        dict(depth=50, frozen_stages=2, norm_eval=False),
        dict(depth=50, zero_init_residual=False, with_cp=True),
        dict(
            num_stages=3,
            out_indices=(0, 1, 2),
            strides=(1, 2, 2),
            dilations=(1, 1, 1),
            frozen_stages=3)
    ]))
def test_iresnet_means_what_mmdet_resnet_means(kwargs):
    from mmdet.models.backbones import ResNet
    kwargs = dict(dict(depth=18, base_channels=4), **kwargs)
    ours, theirs = IResNet(**kwargs), ResNet(**kwargs)
    assert_same_semantics(ours, theirs)
    x = torch.rand(1, 3, 32, 32)
    assert output_shapes(ours, x) == output_shapes(theirs, x)


# --------------------------------------------------------------- mmaction
def action_iresnet(**kwargs):
    """``type='IResNet'`` in an mmaction config: the mmaction flavour."""
    from mmaction.registry import MODELS
    init_default_scope('mmaction')
    model = MODELS.build(dict(type='IResNet', **kwargs))
    assert type(model) is IResNetAction
    return model


PARTIAL_BN = product(
    partial_bn=(True, ), frozen_stages=(-1, 1), norm_eval=(False, True))


@pytest.mark.parametrize(
    'kwargs',
    cases(FROZEN_NORM, PARTIAL_BN, [
        dict(depth=50, with_cp=True, frozen_stages=2),
        dict(out_indices=(0, 1, 2, 3)),
        dict(out_indices=(1, 3), partial_bn=True)
    ]))
def test_iresnet_action_means_what_mmaction_resnet_means(kwargs):
    from mmaction.models import ResNet
    kwargs = dict(dict(depth=18), **kwargs)
    ours, theirs = action_iresnet(**kwargs), ResNet(pretrained=None, **kwargs)
    assert_same_semantics(ours, theirs, STEM_AS_CONVMODULE)
    x = torch.rand(2, 3, 32, 32)
    assert output_shapes(ours, x) == output_shapes(theirs, x)


NON_LOCAL_50 = dict(
    depth=50,
    non_local=((0, 0, 0), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 0, 0)),
    non_local_cfg=dict(
        sub_sample=True,
        use_scale=False,
        mode='dot_product',
        norm_cfg=dict(type='BN3d', requires_grad=True)))


@pytest.mark.parametrize(
    'kwargs',
    cases(
        product(frozen_stages=range(-1, 5), norm_eval=(False, )), [
            dict(frozen_stages=2, norm_eval=True),
            dict(partial_bn=True),
            dict(partial_bn=True, frozen_stages=1),
            dict(temporal_pool=True, frozen_stages=2),
            dict(temporal_pool=True, partial_bn=True),
            dict(shift_place='block', frozen_stages=1),
            dict(is_shift=False),
            dict(shift_div=4),
            dict(out_indices=(0, 1, 2, 3)),
            dict(NON_LOCAL_50, frozen_stages=2),
            dict(NON_LOCAL_50, frozen_stages=3, norm_eval=True),
            dict(NON_LOCAL_50, partial_bn=True, with_cp=True)
        ]))
def test_iresnet_tsm_means_what_resnet_tsm_means(kwargs):
    from mmaction.models import ResNetTSM
    kwargs = dict(dict(depth=18, num_segments=4), **kwargs)
    ours = IResNetTSM(**kwargs)
    theirs = ResNetTSM(pretrained=None, pretrained2d=False, **kwargs)
    # by design: mmaction wraps layer2 in its TemporalPool; ours is a
    # parameter-free module of its own, called before layer2
    assert_same_semantics(ours, theirs,
                          dict(STEM_AS_CONVMODULE, segment_pool='layer2'))
    x = torch.rand(8, 3, 32, 32)  # 2 clips of 4 segments
    assert output_shapes(ours, x) == output_shapes(theirs, x)


@pytest.mark.parametrize(
    'kwargs',
    cases(
        product(frozen_stages=(-1, 0, 2, 4), norm_eval=(False, )), [
            dict(frozen_stages=1, norm_eval=True),
            dict(partial_bn=True),
            dict(with_cp=True, frozen_stages=1)
        ]))
def test_itanet_means_what_tanet_means(kwargs):
    from mmaction.models import TANet
    kwargs = dict(dict(depth=50, num_segments=4), **kwargs)
    ours, theirs = ITANet(**kwargs), TANet(pretrained=None, **kwargs)
    assert_same_semantics(ours, theirs, STEM_AS_CONVMODULE)
    x = torch.rand(4, 3, 32, 32)
    assert output_shapes(ours, x) == output_shapes(theirs, x)


@pytest.mark.parametrize(
    'kwargs',
    cases(FROZEN_NORM, PARTIAL_BN,
          [dict(depth=50, with_cp=True, frozen_stages=2)]))
def test_ic2d_means_what_c2d_means(kwargs):
    """By design the spatial sizes differ: mmaction's C2D pools its stem
    with a 3x3/2 max-pool *without* padding, where iResNet's first stage
    strides as the 2D network does, so IC2D's sizes are mmaction's 2D
    ResNet's on each frame; batch, channels and time are C2D's."""
    from mmaction.models import C2D, ResNet
    kwargs = dict(dict(depth=18), **kwargs)
    ours, theirs = IC2D(**kwargs), C2D(pretrained=None, **kwargs)
    assert_same_semantics(ours, theirs, C2D_NAMES)
    # 36 -> 18 after the stem; C2D's pool: 8, then 8, 4, 2, 1; iResNet's
    # stage 1: 9, then 9, 5, 3, 2
    x = torch.rand(1, 3, 4, 36, 36)
    [mine], [reference] = output_shapes(ours, x), output_shapes(theirs, x)
    assert mine[:3] == reference[:3]
    resnet2d = ResNet(depth=kwargs['depth'], pretrained=None)
    [frame] = output_shapes(resnet2d, x[:, :, 0])
    assert mine[3:] == frame[2:] == (2, 2)
    assert reference[3:] == (1, 1)


def test_ic2d_returns_any_stage_where_mmaction_c2d_cannot():
    """By design: mmaction's C2D leaves the features of an output stage in
    clip form for the next stage, which then fails; IC2D returns any
    ``out_indices``."""
    from mmaction.models import C2D
    x = torch.rand(1, 3, 4, 32, 32)
    with pytest.raises(RuntimeError, match='conv2d'):
        output_shapes(C2D(depth=18, pretrained=None, out_indices=(0, 3)), x)
    assert output_shapes(IC2D(depth=18, out_indices=(0, 3)), x) == \
        [(1, 64, 2, 8, 8), (1, 512, 2, 1, 1)]


# --------------------------------------------------------------------- 3D
I3D_GRID = [
    dict(with_cp=True, frozen_stages=1),
    dict(zero_init_residual=False),
    dict(out_indices=(0, 1, 2, 3), frozen_stages=0),
    dict(
        non_local=(0, 1, 1, 0),
        frozen_stages=2,
        non_local_cfg=dict(
            sub_sample=True,
            use_scale=False,
            norm_cfg=dict(type='BN3d', requires_grad=True),
            mode='embedded_gaussian')),
    dict(
        non_local=(0, 1, 1, 0),
        norm_eval=True,
        non_local_cfg=dict(sub_sample=False, mode='dot_product')),
    dict(with_pool2=False),
    dict(with_pool1=False, frozen_stages=0),
    dict(
        conv1_stride_t=2,
        pool1_stride_t=2,
        conv1_kernel=(5, 7, 7),
        frozen_stages=1),
    dict(inflate=((1, 0), (0, 1), (1, 1), (0, 0)), frozen_stages=3),
    dict(temporal_strides=(1, 2, 1, 1), norm_eval=True),
    dict(depth=50, inflate_style='3x3x3', frozen_stages=2),
    dict(
        depth=50,
        inflate=((1, 1, 1), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 1, 0)),
        conv1_kernel=(5, 7, 7),
        conv1_stride_t=2,
        pool1_stride_t=2,
        norm_eval=True),
]


@pytest.mark.parametrize('kwargs', cases(FROZEN_NORM, I3D_GRID))
def test_iresnet3d_means_what_resnet3d_means(kwargs):
    from mmaction.models import ResNet3d
    kwargs = dict(dict(depth=18, base_channels=4), **kwargs)
    ours, theirs = IResNet3d(**kwargs), ResNet3d(pretrained=None, **kwargs)
    assert_same_semantics(ours, theirs, STEM_AS_CONVMODULE)
    x = torch.rand(1, 3, 8, 32, 32)
    assert output_shapes(ours, x) == output_shapes(theirs, x)


@pytest.mark.parametrize(
    'kwargs',
    cases(
        product(frozen_stages=range(-1, 5), norm_eval=(False, )), [
            dict(norm_eval=True, frozen_stages=2),
            dict(with_cp=True),
            dict(depth=50, frozen_stages=1)
        ]))
def test_iresnet3d_slowonly_means_what_resnet3d_slowonly_means(kwargs):
    from mmaction.models import ResNet3dSlowOnly
    kwargs = dict(dict(depth=18, base_channels=4), **kwargs)
    ours = IResNet3dSlowOnly(**kwargs)
    theirs = ResNet3dSlowOnly(pretrained=None, **kwargs)
    assert_same_semantics(ours, theirs, STEM_AS_CONVMODULE)
    x = torch.rand(1, 3, 4, 32, 32)
    assert output_shapes(ours, x) == output_shapes(theirs, x)


def slowfast_args(depth=18,
                  frozen_stages=-1,
                  norm_eval=False,
                  with_cp=False,
                  resample_rate=8,
                  speed_ratio=8,
                  channel_ratio=8,
                  **lateral):
    """mmaction's SlowFast arguments (its defaults, small widths), with the
    same freezing and norm mode in both pathways."""
    common = dict(
        type='resnet3d',
        depth=depth,
        pretrained=None,
        frozen_stages=frozen_stages,
        norm_eval=norm_eval,
        with_cp=with_cp,
        conv1_stride_t=1,
        pool1_stride_t=1)
    return dict(
        resample_rate=resample_rate,
        speed_ratio=speed_ratio,
        channel_ratio=channel_ratio,
        slow_pathway=dict(
            common,
            lateral=True,
            base_channels=16,
            conv1_kernel=(1, 7, 7),
            inflate=(0, 0, 1, 1),
            **lateral),
        fast_pathway=dict(
            common,
            lateral=False,
            base_channels=16 // channel_ratio,
            conv1_kernel=(5, 7, 7)))


@pytest.mark.parametrize(
    'kwargs',
    cases(FROZEN_NORM,
          [dict(lateral_norm=True, frozen_stages=f) for f in (0, 2, 4)], [
              dict(fusion_kernel=7, frozen_stages=1),
              dict(lateral_infl=1),
              dict(resample_rate=4, speed_ratio=4, frozen_stages=2),
              dict(channel_ratio=4, lateral_norm=True, norm_eval=True),
              dict(with_cp=True, frozen_stages=3),
              dict(depth=50, frozen_stages=2, lateral_norm=True)
          ]))
def test_iresnet3d_slowfast_means_what_resnet3d_slowfast_means(kwargs):
    from mmaction.models import ResNet3dSlowFast
    args = slowfast_args(**kwargs)
    ours = IResNet3dSlowFast(**copy.deepcopy(args))
    theirs = ResNet3dSlowFast(**copy.deepcopy(args))
    assert_same_semantics(ours, theirs, STEM_AS_CONVMODULE)
    x = torch.rand(1, 3, 16, 32, 32)
    assert output_shapes(ours, x) == output_shapes(theirs, x)


@pytest.mark.parametrize(
    'kwargs',
    cases([dict(lateral_inv=True, frozen_stages=f) for f in (-1, 1, 3, 4)], [
        dict(lateral_inv=True, norm_eval=True, frozen_stages=2),
        dict(lateral_activate=(1, 1, 1, 0), frozen_stages=2),
        dict(lateral_activate=(0, 1, 1, 1), frozen_stages=4)
    ]))
def test_iresnet3d_pathway_means_what_resnet3d_pathway_means(kwargs):
    """Lateral options mmaction's SlowFast forward cannot run (``lateral_inv``
    expects the other pathway wider; a switched-off lateral breaks its
    indexing): the pathways alone, built and frozen alike."""
    from mmaction.models.backbones.resnet3d_slowfast import ResNet3dPathway
    kwargs = dict(
        dict(
            depth=18,
            base_channels=16,
            lateral=True,
            conv1_kernel=(1, 7, 7),
            inflate=(0, 0, 1, 1)), **kwargs)
    ours = IResNet3dPathway(**kwargs)
    theirs = ResNet3dPathway(pretrained=None, **kwargs)
    assert_same_semantics(ours, theirs, STEM_AS_CONVMODULE)


@pytest.mark.parametrize(
    'kwargs',
    cases(
        product(
            bottleneck_mode=('ir', 'ip'),
            frozen_stages=(-1, 0, 2, 4),
            norm_eval=(False, )),
        product(
            bottleneck_mode=('ir', 'ip'),
            frozen_stages=(1, ),
            norm_eval=(True, ),
            bn_frozen=(False, True)), [
                dict(bn_frozen=True, norm_eval=False),
                dict(with_pool2=False, with_cp=True, frozen_stages=3)
            ]))
def test_iresnet3d_csn_means_what_resnet3d_csn_means(kwargs):
    from mmaction.models import ResNet3dCSN
    kwargs = dict(dict(depth=50, base_channels=8), **kwargs)
    ours, theirs = IResNet3dCSN(**kwargs), ResNet3dCSN(
        pretrained=None, **kwargs)
    assert_same_semantics(ours, theirs, STEM_AS_CONVMODULE)
    x = torch.rand(1, 3, 8, 32, 32)
    assert output_shapes(ours, x) == output_shapes(theirs, x)


@pytest.mark.parametrize(
    'kwargs',
    cases(
        product(frozen_stages=range(-1, 5), norm_eval=(False, )), [
            dict(frozen_stages=1, norm_eval=True),
            dict(zero_init_residual=False),
            dict(with_cp=True, frozen_stages=2)
        ]))
def test_iresnet2plus1d_means_what_resnet2plus1d_means(kwargs):
    from mmaction.models import ResNet2Plus1d
    init_default_scope('mmaction')  # mmaction finds Conv2plus1d there
    kwargs = dict(
        dict(
            depth=18,
            base_channels=4,
            conv1_kernel=(3, 7, 7),
            inflate=(1, 1, 1, 1),
            temporal_strides=(1, 2, 2, 2),
            with_pool2=False), **kwargs)
    ours = IResNet2Plus1d(**kwargs)
    theirs = ResNet2Plus1d(
        pretrained=None,
        pretrained2d=False,
        conv_cfg=dict(type='Conv2plus1d'),
        **kwargs)
    assert_same_semantics(ours, theirs, STEM_AS_CONVMODULE)
    x = torch.rand(1, 3, 8, 32, 32)
    assert output_shapes(ours, x) == output_shapes(theirs, x)


# ------------------------------------------ by design: what mmaction can't
def test_slowfast_runs_with_a_lateral_switched_off_where_mmaction_cannot():
    """mmaction's SlowFast forward indexes its laterals by stage, so a
    ``lateral_activate`` with a 0 fails there (IndexError); ours skips that
    lateral and the next slow stage takes no extra channels."""
    from mmaction.models import ResNet3dSlowFast
    args = slowfast_args(lateral_activate=(1, 1, 1, 0))
    x = torch.rand(1, 3, 16, 32, 32)
    with pytest.raises(IndexError):
        ResNet3dSlowFast(**copy.deepcopy(args)).eval()(x)
    ours = IResNet3dSlowFast(**copy.deepcopy(args))
    assert ours.slow_path.lateral_connections == \
        ResNet3dSlowFast(**copy.deepcopy(args)).slow_path \
        .lateral_connections == ['layer1_lateral', 'layer2_lateral']
    # stage 3's output, 64 channels, and nothing from the fast pathway
    assert ours.slow_path.layer4[0].conv1.in_channels == 64
    assert ours.slow_path.layer3[0].conv1.in_channels == 32 + 32 * 2 // 8
    slow, fast = output_shapes(ours, x)
    assert slow[:3] == (1, 128, 2) and fast[:3] == (1, 16, 16)


# ------------------------------------------------------ functional checks
def train_step(model, x):
    """One SGD step on the trainable parameters, in train mode."""
    model.train()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad],
                          lr=0.1)
    out = model(x)
    loss = sum((o**2).mean()
               for o in (out if isinstance(out, (tuple, list)) else (out, )))
    opt.zero_grad()
    loss.backward()
    opt.step()


def bn_state(model, kind=nn.modules.batchnorm._BatchNorm):
    """(running mean, weight) copies of every BN of ``kind``, in order."""
    return [(m.running_mean.clone(), m.weight.detach().clone())
            for m in model.modules() if isinstance(m, kind)]


def changed(before, after):
    return [(not torch.equal(m0, m1), not torch.equal(w0, w1))
            for (m0, w0), (m1, w1) in zip_strict(before, after)]


def partial_bn_models():
    from mmaction.models import C2D, ResNet, ResNetTSM
    return [
        ('ResNet', lambda: action_iresnet(depth=18, partial_bn=True),
         lambda: ResNet(depth=18, pretrained=None, partial_bn=True), (4, 3, 32,
                                                                      32)),
        ('ResNetTSM',
         lambda: IResNetTSM(depth=18, num_segments=4, partial_bn=True),
         lambda: ResNetTSM(
             depth=18,
             num_segments=4,
             pretrained=None,
             pretrained2d=False,
             partial_bn=True), (8, 3, 32, 32)),
        ('C2D', lambda: IC2D(depth=18, partial_bn=True),
         lambda: C2D(depth=18, pretrained=None, partial_bn=True), (2, 3, 4, 32,
                                                                   32)),
    ]


@pytest.mark.parametrize('index', range(3), ids=['ResNet', 'ResNetTSM', 'C2D'])
def test_partial_bn_trains_the_first_bn_only(index):
    """After a training step the first BatchNorm2d has new running
    statistics and affine parameters, every other one is unchanged: as
    mmaction's class does it."""
    _, build_ours, build_theirs, shape = partial_bn_models()[index]
    torch.manual_seed(0)
    x = torch.rand(*shape)
    for model in (build_ours(), build_theirs()):
        model.init_weights()
        before = bn_state(model, nn.BatchNorm2d)
        train_step(model, x)
        after = bn_state(model, nn.BatchNorm2d)
        assert len(before) > 10
        assert changed(before, after) == \
            [(True, True)] + [(False, False)] * (len(before) - 1)


def norm_eval_models():
    """(name, builder(norm_eval), input shape) of each counterpart."""
    return [
        ('IResNet',
         lambda ne: IResNet(depth=18, base_channels=4, norm_eval=ne),
         (2, 3, 32, 32)),
        ('IResNetAction', lambda ne: action_iresnet(depth=18, norm_eval=ne),
         (2, 3, 32, 32)),
        ('IResNetTSM', lambda ne: IResNetTSM(
            depth=18, num_segments=4, temporal_pool=True, norm_eval=ne),
         (8, 3, 32, 32)),
        ('ITANet', lambda ne: ITANet(depth=50, num_segments=4, norm_eval=ne),
         (4, 3, 32, 32)),
        ('IC2D', lambda ne: IC2D(depth=18, norm_eval=ne), (2, 3, 4, 32, 32)),
        ('IResNet3d', lambda ne: IResNet3d(
            depth=18,
            base_channels=4,
            norm_eval=ne,
            non_local=(0, 1, 0, 0),
            non_local_cfg=dict(norm_cfg=dict(type='BN3d'))), (2, 3, 4, 32,
                                                              32)),
        ('IResNet3dSlowOnly',
         lambda ne: IResNet3dSlowOnly(depth=18, base_channels=4, norm_eval=ne),
         (2, 3, 4, 32, 32)),
        ('IResNet3dSlowFast', lambda ne: IResNet3dSlowFast(**slowfast_args(
            norm_eval=ne, lateral_norm=True)), (2, 3, 16, 32, 32)),
        ('IResNet3dCSN', lambda ne: IResNet3dCSN(
            depth=50, base_channels=8, norm_eval=ne, bottleneck_mode='ip'),
         (2, 3, 8, 32, 32)),
        ('IResNet2Plus1d',
         lambda ne: IResNet2Plus1d(depth=18, base_channels=4, norm_eval=ne),
         (2, 3, 8, 32, 32)),
    ]


@pytest.mark.parametrize(
    'index', range(10), ids=[m[0] for m in norm_eval_models()])
def test_norm_eval_keeps_every_running_mean(index):
    """``norm_eval=True``: a training step leaves every BN's running mean
    where it was (laterals, non-local and TAM norms included); without it
    the same step moves them."""
    _, build, shape = norm_eval_models()[index]
    init_default_scope('mmaction')
    torch.manual_seed(0)
    x = torch.rand(*shape)
    for norm_eval in (True, False):
        model = build(norm_eval)
        model.init_weights()
        before = bn_state(model)
        train_step(model, x)
        moved = [m for m, _ in changed(before, bn_state(model))]
        if norm_eval:
            assert not any(nonempty(moved))
        else:
            assert all(nonempty(moved))


def tsm_output(x, **kwargs):
    """IResNetTSM with fixed weights (the shift adds none)."""
    torch.manual_seed(0)
    model = IResNetTSM(
        depth=18, base_channels=8, zero_init_residual=False, **kwargs)
    model.init_weights()
    with torch.no_grad():
        return model.eval()(x)


@pytest.mark.parametrize(
    'a,b', [
        (dict(shift_div=8), dict(shift_div=4)),
        (dict(shift_place='blockres'), dict(shift_place='block')),
        (dict(num_segments=4), dict(num_segments=2)),
        (dict(is_shift=True), dict(is_shift=False)),
    ],
    ids=['shift_div', 'shift_place', 'num_segments', 'is_shift'])
def test_tsm_arguments_change_the_output(a, b):
    """Each TSM argument changes the features of a clip whose frames differ
    (what mmaction computes for each value is checked against its own code in
    test_video_backbones)."""
    torch.manual_seed(1)
    x = torch.rand(8, 3, 32, 32)
    first, second = tsm_output(x, **a), tsm_output(x, **b)
    assert first.shape == second.shape
    assert (first - second).abs().max() > 1e-3 * first.abs().max()


def test_pathway_freezes_laterals_by_stage_where_mmaction_counts_them():
    """By design: mmaction freezes the (i-1)-th lateral it built with stage
    i, so with a lateral switched off it freezes the next stage's (here
    ``layer2_lateral`` for ``frozen_stages=1``); ours freezes
    ``layer{i}_lateral`` with stage i, whichever exist."""
    from mmaction.models.backbones.resnet3d_slowfast import ResNet3dPathway
    kwargs = dict(
        depth=18,
        base_channels=16,
        lateral=True,
        frozen_stages=1,
        lateral_activate=(1, 0, 1, 1))
    theirs = ResNet3dPathway(pretrained=None, **kwargs)
    ours = IResNet3dPathway(**kwargs)
    for model in (theirs, ours):
        model.train()
        assert not hasattr(model, 'layer1_lateral')
    assert not any(
        p.requires_grad for p in nonempty(theirs.layer2_lateral.parameters()))
    assert all(
        p.requires_grad for p in nonempty(ours.layer2_lateral.parameters()))
    assert all(
        p.requires_grad for p in nonempty(ours.layer3_lateral.parameters()))


def test_tsm_non_local_after_temporal_pool_where_mmaction_mixes_clips():
    """By design: after ``temporal_pool`` mmaction's NL3DWrapper still
    groups ``num_segments`` frames, i.e. two clips' halved segments, so one
    clip's frame changes the other clip's features (and one clip alone
    fails); IResNetTSM's non-local runs over each clip's halved segments
    (see test_video_backbones' clip test)."""
    from mmaction.models import ResNetTSM
    kwargs = dict(
        depth=50,
        num_segments=4,
        is_shift=False,
        temporal_pool=True,
        non_local=((0, 0, 0), (0, 0, 0, 0), (1, 0, 0, 0, 0, 0), (0, 0, 0)),
        non_local_cfg=dict(sub_sample=False))
    torch.manual_seed(0)
    theirs = ResNetTSM(pretrained=None, pretrained2d=False, **kwargs)
    theirs.init_weights()
    nn.init.normal_(
        theirs.layer3[0].non_local_block.conv_out.conv.weight,
        std=0.1)  # mmcv zero-initialises it
    ours = IResNetTSM(**kwargs)
    assert theirs.layer3[0].num_segments == 4
    assert ours.layer3[0].non_local_block.num_segments == 2
    x = torch.rand(8, 3, 32, 32)
    y = x.clone()
    y[1] += 1  # a frame of clip 0
    theirs.eval()
    with torch.no_grad():
        changed = (theirs(x) - theirs(y)).flatten(1).abs().amax(1) > 1e-6
        assert changed.shape == (4, ) and changed[2:].any()  # clip 1 too
        with pytest.raises(RuntimeError):
            theirs(x[:4])
