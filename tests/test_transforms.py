"""Every PyTorch tool that works on mmdet's ``ResNet`` and mmaction2's
``ResNet3d`` works on the iResNet backbones, with the same values.

One grid, transform x backbone. Each cell runs the transform on our backbone
and on its control, the installed mmdet / mmaction2 class it replaces, built
the same way; each transformed model must agree with the same model
untransformed (a float tolerance; int8 quantization and bf16 autocast a
tolerance of their own, met by the control too). Where the control works,
ours must. Where the control fails, ours may: those cells are listed in
:data:`CONTROL_FAILS`, and the control is asserted to still fail there, so
the list stays true. The backbones: 2D against mmdet's ``ResNet``, 3D
against mmaction2's ``ResNet3d``, and each video counterpart that takes one
tensor against mmaction2's class (RGBPoseConv3D takes two). Feature
extraction is torchvision's where torchvision imports, else the same on the
plain FX route.
"""
import copy
import os.path as osp
import pickle
from typing import Callable, NamedTuple

import pytest
import torch
import torch.nn as nn
from mmengine.registry import init_default_scope
from torch.nn.modules.batchnorm import _BatchNorm

from mm_iresnet.models import (IC2D, IResNet, IResNet2Plus1d, IResNet3d,
                               IResNet3dCSN, IResNet3dSlowFast, IResNetTSM,
                               ITANet)
from .helpers import randomise_bn, rel_err


# --------------------------------------------------------------- backbones
class Pair(NamedTuple):
    ours: Callable[[], nn.Module]
    control: Callable[[], nn.Module]
    shape: tuple


def _mmdet(name):
    from mmdet.models import backbones
    return getattr(backbones, name)


def _mmaction(name):
    from mmaction.models import backbones
    return getattr(backbones, name)


def _slowfast(cls):
    pathway = dict(type='resnet3d', depth=18, pretrained=None)
    return cls(
        resample_rate=4,
        speed_ratio=4,
        channel_ratio=4,
        slow_pathway=dict(
            pathway,
            lateral=True,
            base_channels=8,
            conv1_kernel=(1, 7, 7),
            inflate=(0, 0, 1, 1)),
        fast_pathway=dict(
            pathway, lateral=False, base_channels=2, conv1_kernel=(5, 7, 7)))


def _r2plus1d(cls, **extra):
    init_default_scope('mmaction')  # where mmaction finds Conv2plus1d
    return cls(
        depth=18,
        base_channels=8,
        conv1_kernel=(3, 7, 7),
        inflate=(1, 1, 1, 1),
        temporal_strides=(1, 2, 2, 2),
        norm_eval=False,
        **extra)


#: two stages of the networks built of bottlenecks (TANet's 64 wide)
TWO_STAGES = dict(
    num_stages=2, strides=(1, 2), dilations=(1, 1), out_indices=(1, ))
CSN_TWO_STAGES = dict(
    num_stages=2,
    spatial_strides=(1, 2),
    temporal_strides=(1, 2),
    dilations=(1, 1),
    out_indices=(1, ))

#: our backbone and its control, each small: depth 18 and 8 wide where the
#: class takes ``base_channels`` (mmaction's 2D classes are 64 wide), the
#: networks of bottlenecks (TANet, CSN) two stages deep; inputs 64x48
#: images, 4-frame clips (8 for SlowFast) and 4-segment batches of 32x32
#: frames; BN trains (norm_eval off) so that training's derivatives go
#: through batch statistics
PAIRS = {
    '2d':
    Pair(lambda: IResNet(depth=18, base_channels=8, norm_eval=False),
         lambda: _mmdet('ResNet')(depth=18, base_channels=8, norm_eval=False),
         (2, 3, 64, 48)),
    '3d':
    Pair(
        lambda: IResNet3d(depth=18, base_channels=8),
        lambda: _mmaction('ResNet3d')
        (depth=18, base_channels=8, pretrained=None, pretrained2d=False),
        (1, 3, 4, 32, 32)),
    'tsm':
    Pair(
        lambda: IResNetTSM(depth=18, num_segments=4),
        lambda: _mmaction('ResNetTSM')
        (depth=18, num_segments=4, pretrained=None, pretrained2d=False),
        (4, 3, 32, 32)),
    'tanet':
    Pair(
        lambda: ITANet(depth=50, num_segments=4, **TWO_STAGES),
        lambda: _mmaction('TANet')
        (depth=50, num_segments=4, pretrained=None, **TWO_STAGES),
        (4, 3, 32, 32)),
    'c2d':
    Pair(
        lambda: IC2D(depth=18), lambda: _mmaction('C2D')
        (depth=18, pretrained=None, torchvision_pretrain=False),
        (1, 3, 4, 32, 32)),
    'slowfast':
    Pair(lambda: _slowfast(IResNet3dSlowFast),
         lambda: _slowfast(_mmaction('ResNet3dSlowFast')), (1, 3, 8, 32, 32)),
    'csn':
    Pair(
        lambda: IResNet3dCSN(
            depth=50, base_channels=8, with_pool2=False, **CSN_TWO_STAGES),
        lambda: _mmaction('ResNet3dCSN')
        (depth=50,
         base_channels=8,
         with_pool2=False,
         pretrained=None,
         **CSN_TWO_STAGES), (1, 3, 4, 32, 32)),
    'r2plus1d':
    Pair(
        lambda: _r2plus1d(IResNet2Plus1d), lambda: _r2plus1d(
            _mmaction('ResNet2Plus1d'),
            pretrained=None,
            pretrained2d=False,
            conv_cfg=dict(type='Conv2plus1d')), (1, 3, 4, 32, 32)),
}


def build(make):
    torch.manual_seed(0)
    model = make()
    randomise_bn(model)
    model.eval()  # (some of mmaction's train() return None: no chaining)
    return model


def example(shape, seed=1):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------- helpers
def flat(out):
    """A model's outputs as a list of tensors (a tensor or a tuple)."""
    return list(out) if isinstance(out, (tuple, list)) else [out]


def assert_same(got, want, rtol=1e-5, atol=1e-5):
    got, want = flat(got), flat(want)
    assert len(got) == len(want)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=rtol, atol=atol)


def reference(model, x):
    with torch.no_grad():
        return model(x)


def loss_of(model, x):
    """A scalar of every output, weighted so that no derivative is a sum
    of ones (fixed weights, not random ones: vmap refuses random ops)."""
    out = flat(model(x))
    return sum(
        (o * torch.arange(o.numel(), dtype=o.dtype).cos().view(o.shape)).sum()
        for o in out)


# -------------------------------------------------------------- transforms
def t_symbolic_trace(model, x):
    graph = torch.fx.symbolic_trace(model)
    with torch.no_grad():
        assert_same(graph(x), model(x))


#: int8 with per-tensor activation scales (x86 qconfig): one step is 1/255
#: of a tensor's calibrated range, so each quantized layer adds an error of
#: a fraction of a percent of its range, and the relative error of a deep
#: stage's output (||q - f|| / ||f||) grows to a few percent: 0.025 to 0.10
#: for the controls here (the worst SlowFast, whose fast pathway is 2
#: channels wide), 0.015 to 0.04 for ours. The bound is 1.5 times the
#: controls' worst and far below the error of a wrong network (order 1).
QUANT_REL_ERR = 0.15


def int8_fx(model, x, calibration):
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
    prepared = prepare_fx(
        copy.deepcopy(model), get_default_qconfig_mapping('x86'), (x, ))
    with torch.no_grad():
        for batch in calibration:
            prepared(batch)
    quantized = convert_fx(prepared)
    assert any('quantize_per_tensor' in str(n.target)  # it is int8
               for n in quantized.graph.nodes)
    return quantized


def assert_quantized_close(quantized, model, x):
    with torch.no_grad():
        for got, want in zip(flat(quantized(x)), flat(model(x))):
            assert got.dtype == torch.float32
            assert rel_err(got, want) < QUANT_REL_ERR


def t_fx_int8(model, x):
    calibration = [x, example(x.shape, seed=2)]
    assert_quantized_close(int8_fx(model, x, calibration), model, x)


class ExtractFeat(nn.Module):
    """A detector's ``extract_feat`` (backbone, then neck) as a forward."""

    def __init__(self, detector):
        super().__init__()
        self.detector = detector

    def forward(self, x):
        return self.detector.extract_feat(x)


def detector_with(backbone):
    """mmdet's Faster R-CNN (its config, through ours, which inherits it;
    the FPN and heads narrowed to 16 channels) with ``backbone`` in it."""
    from mmdet.registry import MODELS
    from mmengine.config import Config
    init_default_scope('mmdet')
    cfg = Config.fromfile(
        osp.join(
            osp.dirname(osp.dirname(__file__)), 'configs', 'coco',
            'faster_rcnn_iresnet50.py'))
    cfg.model.backbone = dict(
        type='IResNet', depth=18, base_channels=8,
        init_cfg=None)  # replaced by ``backbone``
    # the stage widths of both 2D backbones (depth 18, width 8)
    cfg.model.neck.update(in_channels=[8, 16, 32, 64], out_channels=16)
    cfg.model.rpn_head.update(in_channels=16, feat_channels=16)
    cfg.model.roi_head.bbox_roi_extractor.out_channels = 16
    cfg.model.roi_head.bbox_head.update(in_channels=16, fc_out_channels=32)
    torch.manual_seed(0)
    detector = MODELS.build(cfg.model)
    detector.backbone = backbone
    return ExtractFeat(detector).eval()


def t_fx_int8_detector(model, x):
    """FX int8 quantization of a whole detector's ``extract_feat``: the
    backbone and mmdet's FPN in one graph."""
    feat = detector_with(model)
    calibration = [x, example(x.shape, seed=2)]
    assert_quantized_close(int8_fx(feat, x, calibration), feat, x)


def _samples(x):
    """Two inputs stacked along a new leading (vmapped) dimension."""
    return torch.stack([x, example(x.shape, seed=3)])


def t_vmap_no_grad(model, x):
    xs = _samples(x)
    with torch.no_grad():
        got = flat(torch.func.vmap(model)(xs))
        for i in range(len(xs)):
            assert_same([g[i] for g in got], model(xs[i]))


def t_jvp(model, x):
    """Forward AD: the primal is the forward's output, and the tangent
    agrees with reverse mode (<J v, u> = <v, J^T u> for random u, v)."""
    v = example(x.shape, seed=4)
    out, tangent = torch.func.jvp(model, (x, ), (v, ))
    assert_same(out, reference(model, x))
    x_ = x.clone().requires_grad_()
    outs = flat(model(x_))
    us = [
        torch.randn(o.shape, generator=torch.Generator().manual_seed(5 + i))
        for i, o in enumerate(outs)
    ]
    grad, = torch.autograd.grad(outs, x_, us)
    forward = sum((t * u).sum() for t, u in zip(flat(tangent), us))
    torch.testing.assert_close(forward, (grad * v).sum(), rtol=1e-4, atol=1e-4)


def t_vmap_grad(model, x):
    """Per-sample input gradients (``vmap(grad)``) equal those of each
    sample's own backward. In float64: a batched convolution rounds
    otherwise than a single one, and in float32 that can move a ReLU or a
    max-pool across its kink and change a few gradients."""
    model, xs = copy.deepcopy(model).double(), _samples(x).double()
    got = torch.func.vmap(torch.func.grad(lambda s: loss_of(model, s)))(xs)
    for i in range(len(xs)):
        x_ = xs[i].clone().requires_grad_()
        want, = torch.autograd.grad(loss_of(model, x_), x_)
        torch.testing.assert_close(got[i], want, rtol=1e-10, atol=1e-10)


def t_export(model, x):
    exported = torch.export.export(model, (x, ))
    with torch.no_grad():
        assert_same(exported.module()(x), model(x))


def t_jit_trace(model, x):
    with torch.no_grad():
        traced = torch.jit.trace(model, x, check_trace=False)
        assert_same(traced(x), model(x))


#: bf16 keeps 8 bits of mantissa (a relative rounding of 2^-9 per value);
#: rounded at every layer, the outputs' relative error is 0.005 to 0.010
#: for the controls and 0.003 to 0.010 for ours here: the bound is five
#: times the controls' worst, and a wrong network is off by order 1
BF16_REL_ERR = 0.05


def t_channels_last_bf16(model, x):
    fmt = {4: torch.channels_last, 5: torch.channels_last_3d}
    fast = copy.deepcopy(model)
    for p in fast.parameters():  # each weight in the layout of its rank
        if p.dim() in fmt:
            p.data = p.data.contiguous(memory_format=fmt[p.dim()])
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        got = flat(fast(x.contiguous(memory_format=fmt[x.dim()])))
    for a, b in zip(got, flat(reference(model, x))):
        assert a.dtype == torch.bfloat16
        assert rel_err(a.float(), b) < BF16_REL_ERR


def t_pickle(model, x):
    again = pickle.loads(pickle.dumps(model))
    with torch.no_grad():
        assert_same(again(x), model(x), rtol=0, atol=0)


def _train64(model, x):
    """The model in training mode (BN on batch statistics) and float64,
    and the input's top-left corner, a quarter of its height and width
    (float64 convolutions are slow), twice, the second time mirrored: BN's
    batch statistics then have more than one value per channel in the last
    stage."""
    model = copy.deepcopy(model).double()
    model.train()
    for m in model.modules():  # batch statistics, and no running ones
        if isinstance(m, _BatchNorm):  # (torch.func refuses their update)
            m.track_running_stats = False
    h, w = x.shape[-2:]
    x = x[..., :h // 4, :w // 4].double()
    return model, torch.cat([x, x.flip(-1)])


def t_train_backward(model, x):
    """Training (float64, BN on batch statistics): the forward that records
    a graph gives the values of the one that does not, and backward's input
    gradient the derivative along a random direction that forward-mode AD
    gives (another set of derivative formulas, and exact where finite
    differences are not: BN over a few values bends the loss sharply)."""
    from torch.autograd import forward_ad
    model, x = _train64(model, x)
    v = example(x.shape, seed=6).double()
    x_ = x.clone().requires_grad_()
    loss = loss_of(model, x_)
    loss.backward()
    with torch.no_grad():
        torch.testing.assert_close(
            loss, loss_of(model, x), rtol=1e-10, atol=1e-10)
    with forward_ad.dual_level():
        along = forward_ad.unpack_dual(
            loss_of(model, forward_ad.make_dual(x, v))).tangent
    # float64 rounding, relative to the magnitude of the terms summed
    scale = (x_.grad * v).abs().sum().item()
    torch.testing.assert_close(
        (x_.grad * v).sum(), along, rtol=1e-8, atol=1e-10 * scale)


def t_double_backward(model, x):
    """A Hessian-vector product through the backward (reverse over reverse,
    training, float64) equals forward over reverse (``jvp`` of ``grad``)."""
    model, x = _train64(model, x)
    v = example(x.shape, seed=7).double()
    x_ = x.clone().requires_grad_()
    grad, = torch.autograd.grad(loss_of(model, x_), x_, create_graph=True)
    hvp, = torch.autograd.grad((grad * v).sum(), x_)
    _, along = torch.func.jvp(
        torch.func.grad(lambda t: loss_of(model, t)), (x, ), (v, ))
    torch.testing.assert_close(
        hvp, along, rtol=1e-8, atol=1e-10 * along.abs().max().item())


def t_inference_mode(model, x):
    with torch.inference_mode():
        got = model(x)
    assert_same(got, reference(model, x), rtol=0, atol=0)


def t_compile(model, x):
    torch._dynamo.reset()
    compiled = torch.compile(model, backend='aot_eager')
    with torch.no_grad():
        assert_same(compiled(x), model(x))


class ScopeTracer(torch.fx.Tracer):
    """A tracer that notes in which module each node was made, as
    torchvision's feature extractor traces (every module traced through,
    PyTorch's own layers as leaves)."""

    def __init__(self):
        super().__init__()
        self.module_name = ''
        self.made_in = {}

    def call_module(self, m, forward, args, kwargs):
        outer, self.module_name = self.module_name, self.path_of_module(m)
        try:
            return super().call_module(m, forward, args, kwargs)
        finally:
            self.module_name = outer

    def create_proxy(self, *args, **kwargs):
        proxy = super().create_proxy(*args, **kwargs)
        self.made_in[proxy.node] = self.module_name
        return proxy


def stage_names(model):
    return [
        name for name, _ in model.named_modules()
        if name.rpartition('.')[2] in ('layer1', 'layer2', 'layer3', 'layer4')
    ]


def feature_extractor(model, names):
    """``model`` cut to return the outputs of the modules ``names``:
    torchvision's ``create_feature_extractor`` where torchvision imports,
    else the same on the plain FX route (the last node made in each
    module, the graph's output)."""
    try:
        from torchvision.models.feature_extraction import \
            create_feature_extractor
    except Exception:  # no torchvision, or one whose ops do not load
        pass
    else:
        extractor = create_feature_extractor(model, names)
        return lambda x: list(extractor(x).values())
    tracer = ScopeTracer()
    graph = tracer.trace(model)
    last = {}
    for node in graph.nodes:
        scope = tracer.made_in.get(node, '')
        for name in names:
            if scope == name or scope.startswith(name + '.'):
                last[name] = node
    graph.erase_node(next(n for n in graph.nodes if n.op == 'output'))
    graph.output(tuple(last[name] for name in names))
    extractor = torch.fx.GraphModule(model, graph)
    extractor.graph.eliminate_dead_code()
    extractor.recompile()
    return extractor


def t_feature_extraction(model, x):
    names = stage_names(model)
    assert names
    extractor = feature_extractor(model, names)
    stages = {}
    hooks = [
        model.get_submodule(n).register_forward_hook(
            lambda m, i, o, n=n: stages.__setitem__(n, o.clone()))
        for n in names
    ]
    with torch.no_grad():
        model(x)
        for hook in hooks:
            hook.remove()
        assert_same(extractor(x), [stages[n] for n in names])


TRANSFORMS = {
    'symbolic_trace': t_symbolic_trace,
    'fx_int8': t_fx_int8,
    'fx_int8_detector': t_fx_int8_detector,
    'vmap_no_grad': t_vmap_no_grad,
    'jvp': t_jvp,
    'vmap_grad': t_vmap_grad,
    'export': t_export,
    'jit_trace': t_jit_trace,
    'channels_last_bf16': t_channels_last_bf16,
    'pickle': t_pickle,
    'train_backward': t_train_backward,
    'double_backward': t_double_backward,
    'inference_mode': t_inference_mode,
    'compile': t_compile,
    'feature_extraction': t_feature_extraction,
}

#: transforms that apply to some backbones only (a detector takes images)
ONLY = {'fx_int8_detector': ('2d', )}

CELLS = [(t, b) for t in TRANSFORMS for b in PAIRS if b in ONLY.get(t, PAIRS)]

#: (transform, backbone) cells where the control fails: the error it
#: raises, and why. Ours may fail there too (our TANet uses mmaction's TAM).
_TAM_ASSERTS = (torch.fx.proxy.TraceError,
                "mmaction's TAM asserts on the channel count of a traced "
                'input (assert c == self.in_channels)')
CONTROL_FAILS = {
    ('symbolic_trace', 'tanet'): _TAM_ASSERTS,
    ('fx_int8', 'tanet'): _TAM_ASSERTS,
    ('feature_extraction', 'tanet'): _TAM_ASSERTS,
}


@pytest.mark.parametrize(
    'transform,backbone', CELLS, ids=[f'{t}-{b}' for t, b in CELLS])
def test_transform(transform, backbone):
    """The control works and ours works with the same agreement; or, in
    a listed cell, the control still fails, and ours may fail, but never
    with values that disagree."""
    pair, run = PAIRS[backbone], TRANSFORMS[transform]
    x = example(pair.shape)
    control = build(pair.control)
    if (transform, backbone) not in CONTROL_FAILS:
        run(control, x)
        run(build(pair.ours), x)
        return
    with pytest.raises(CONTROL_FAILS[transform, backbone][0]):
        run(control, x)
    try:
        run(build(pair.ours), x)
    except AssertionError:
        raise
    except Exception:
        pass


# ------------------------------------------------------------ input checks
def _capture(how, model, x):
    if how == 'symbolic_trace':
        graph = torch.fx.symbolic_trace(model)
        # nothing of the checks in the graph: no rank or size is read
        assert not [
            n
            for n in graph.graph.nodes if n.target in ('dim', 'size', 'shape')
        ]
    elif how == 'jit_trace':
        with torch.no_grad():
            torch.jit.trace(model, x, check_trace=False)
    elif how == 'export':
        torch.export.export(model, (x, ))
    else:
        torch._dynamo.reset()
        with torch.no_grad():
            torch.compile(model, backend='eager', fullgraph=True)(x)


@pytest.mark.parametrize('how',
                         ['symbolic_trace', 'jit_trace', 'export', 'compile'])
def test_input_checks_stay_out_of_captured_graphs(how):
    """While a graph is captured the input checks do not run (they would be
    control flow on traced values: FX refuses it, export and compile would
    guard on it); in an eager run they do, and a wrong channel count, rank
    or clip length still gets its message."""
    model = build(lambda: IResNet3d(depth=18, base_channels=8))
    calls = []
    validate = model._validate_input
    model._validate_input = lambda x: calls.append(x) or validate(x)
    x = example((1, 3, 4, 32, 32))
    _capture(how, model, x)
    assert calls == []
    with torch.no_grad():
        model(x)
    assert len(calls) == 1
    for shape, message in [
        ((1, 4, 4, 32, 32), 'in_channels=3 but the input has 4'),
        ((1, 3, 32, 32), r'expects a 5D input \(N, C, T, H, W\)'),
        ((1, 3, 1, 32, 32), 'input has 1 frames; it needs at least')
    ]:
        with pytest.raises(ValueError, match=message):
            model(example(shape))
