"""Benchmark IResNet against the ResNet a user would otherwise pick.

    python tools/benchmark.py [--depths 18 50 101] [--size 160] [--batch 2]
        [--repeats 5] [--no-video] [--no-detector] [--extreme] [--profile]
        [--compile] [--deploy [--deploy-only] [--exporters ...]]
        [--device cpu|cuda] [--out-dir work_dirs/benchmark]

In one process, on the same inputs, alternating the two networks run by run:

* params and FLOPs (mmengine's counter) of IResNet vs mmdet ``ResNet`` and
  IResNet3d vs mmaction ``ResNet3d`` (I3D inflation pattern);
* train step (forward + backward + SGD step) and eval forward: medians of
  ``--repeats`` alternating runs, reported as the ratio IResNet / ResNet,
  in fp32, channels_last and bf16 autocast; eval also in deploy mode (BN
  folded, ``switch_to_deploy``);
* memory of a train step (CUDA: ``max_memory_allocated``; CPU: bytes of
  the tensors saved for backward), and what ``with_cp`` saves at depth 101;
* whole detectors: Faster R-CNN iResNet-50 vs R-50 train step, same batch;
* with ``--extreme``: a train step of iResNet-404 and -1001 (224x224,
  batch 1, ``with_cp``), time and peak memory;
* with ``--compile``: the same networks under ``torch.compile`` (inductor):
  train and eval steps, and eval of the deploy form (BN folded), each beside
  an A/A control (a second, identical ResNet compiled on its own, whose
  ratio to the first shows the noise of the measurement);
* with ``--deploy``: inference as deployed, batch ``--batch`` at
  ``--size``: eager PyTorch with BN folded (IResNet's ``switch_to_deploy``
  vs ResNet with mmcv's ``fuse_conv_bn``) and onnxruntime sessions of the
  folded networks exported by each of ``--exporters``; each beside an A/A
  control (a second, identical ResNet), the contenders' order shuffled
  every round, BN with trained-like statistics and scales (not the
  zero-initialised gammas of a fresh network), denormals flushed to zero.

Absolute times depend on the machine; the ratios are the result. Prints a
Markdown table and writes ``benchmark.csv`` / ``benchmark.md``.
"""
import argparse
import collections
import contextlib
import copy
import csv
import logging
import os
import os.path as osp
import random
import statistics
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402
from torch.nn.modules.batchnorm import _BatchNorm  # noqa: E402
from mmengine.logging import MMLogger  # noqa: E402

import mm_iresnet  # noqa: E402,F401
from mm_iresnet.models import IResNet, IResNet3d  # noqa: E402

I3D_INFLATE = ((1, 1, 1), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 1, 0))


class PeakMemory:
    """Training memory of a block. CUDA: the allocator's peak growth. CPU
    (where the allocator's reuse hides growth from the resident set): the
    bytes of the distinct tensors autograd saves for backward, which is what
    grows with depth, batch and resolution and what ``with_cp`` saves."""

    def __init__(self, device):
        self.device = device
        self.peak = 0

    def __enter__(self):
        if self.device == 'cuda':
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
            return self
        self.seen = {}

        def pack(t):
            try:
                key = (t.untyped_storage().data_ptr(), t.device)
                self.seen[key] = t.untyped_storage().nbytes()
            except (RuntimeError, NotImplementedError):
                pass
            return t

        self.hooks = torch.autograd.graph.saved_tensors_hooks(pack,
                                                              lambda t: t)
        self.hooks.__enter__()
        return self

    def __exit__(self, *exc):
        if self.device == 'cuda':
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated() - self.base
        else:
            self.hooks.__exit__(*exc)
            self.peak = sum(self.seen.values())


def mem_metric(device):
    return 'train peak MiB' if device == 'cuda' else \
        'train saved-for-backward MiB'


def sync(device):
    if device == 'cuda':
        torch.cuda.synchronize()


def make_step(model, x, mode, device, bf16):
    """A callable running one train step or one eval forward."""
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.SGD(params, lr=1e-4, momentum=0.9) if params \
        else None
    autocast = torch.autocast(device, dtype=torch.bfloat16) if bf16 \
        else contextlib.nullcontext()

    def loss_of(outs):
        outs = outs if isinstance(outs, (tuple, list)) else (outs, )
        return sum(o.float().mean() for o in outs)

    def train_step():
        with autocast:
            loss = loss_of(model(x))
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        sync(device)

    def eval_step():
        with torch.no_grad(), autocast:
            model(x)
        sync(device)

    if mode == 'train':
        model.train()
        return train_step
    model.eval()
    return eval_step


def alternate(steps, repeats, warmup=1):
    """Run each step ``warmup`` times (compilation happens there), then
    ``repeats`` rounds alternating the steps; medians in seconds."""
    for step in steps:
        for _ in range(warmup):
            step()
    times = [[] for _ in steps]
    for _ in range(repeats):
        for i, step in enumerate(steps):
            start = time.perf_counter()
            step()
            times[i].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def complexity(model, shape):
    from mmengine.analysis import get_model_complexity_info
    model.eval()
    info = get_model_complexity_info(model, input_shape=shape,
                                     show_table=False, show_arch=False)
    return info['params'], info['flops']


def pairs(depths, video):
    from mmaction.models import ResNet3d
    from mmdet.models.backbones import ResNet
    for depth in depths:
        yield (f'2D depth {depth}', lambda d=depth, **kw: IResNet(
            depth=d, **kw), lambda d=depth, **kw: ResNet(depth=d, **kw),
            (3, ), '2d')
    if video:
        kw3d = dict(conv1_kernel=(5, 7, 7), conv1_stride_t=2,
                    pool1_stride_t=2, inflate=I3D_INFLATE)
        yield ('3D I3D depth 50',
               lambda **kw: IResNet3d(depth=50, **kw3d, **kw),
               lambda **kw: ResNet3d(depth=50, pretrained=None, **kw3d,
                                     **kw), (3, 8), '3d')


def run(args):
    device = args.device
    torch.manual_seed(0)
    rows = []

    def add(**row):
        rows.append(row)
        print(' | '.join(f'{k}={v}' for k, v in row.items()), flush=True)

    if args.deploy_only:
        for case in pairs(args.depths, args.video):
            deployed_rows(case, args, add)
        return rows
    if args.detector:  # first: later compiled runs can slow eager ones
        detector_ratio(args, add)
    for name, ours_fn, base_fn, lead, kind in pairs(args.depths, args.video):
        size = args.size if kind == '2d' else args.size // 2
        shape = (*lead, size, size)
        ours, base = ours_fn(), base_fn()
        p1, f1 = complexity(ours, shape)
        p0, f0 = complexity(base, shape)
        add(case=name, metric='params', iresnet=p1, resnet=p0,
            ratio=round(p1 / p0, 4))
        add(case=name, metric=f'GFLOPs@{size}', iresnet=round(f1 / 1e9, 3),
            resnet=round(f0 / 1e9, 3), ratio=round(f1 / f0, 4))
        x = torch.randn(args.batch, *shape, device=device)
        ours.to(device), base.to(device)
        for mode in ('train', 'eval'):
            for variant in ('fp32', 'channels_last', 'bf16'):
                if variant == 'channels_last' and kind == '3d':
                    fmt = torch.channels_last_3d
                else:
                    fmt = torch.channels_last
                xx = x.contiguous(memory_format=fmt) \
                    if variant == 'channels_last' else x
                if variant == 'channels_last':
                    ours.to(memory_format=fmt), base.to(memory_format=fmt)
                t1, t0 = alternate([
                    make_step(ours, xx, mode, device, variant == 'bf16'),
                    make_step(base, xx, mode, device, variant == 'bf16')
                ], args.repeats)
                if variant == 'channels_last':
                    ours.to(memory_format=torch.contiguous_format)
                    base.to(memory_format=torch.contiguous_format)
                add(case=name, metric=f'{mode} step s ({variant})',
                    iresnet=round(t1, 4), resnet=round(t0, 4),
                    ratio=round(t1 / t0, 3))
        with PeakMemory(device) as m1:
            make_step(ours, x, 'train', device, False)()
        with PeakMemory(device) as m0:
            make_step(base, x, 'train', device, False)()
        add(case=name, metric=mem_metric(device),
            iresnet=round(m1.peak / 2**20),
            resnet=round(m0.peak / 2**20),
            ratio=round(m1.peak / max(m0.peak, 1), 3))
        deployed = ours_fn().to(device)
        deployed.load_state_dict(ours.state_dict())
        deployed.switch_to_deploy()
        t1, t0 = alternate([make_step(deployed, x, 'eval', device, False),
                            make_step(base, x, 'eval', device, False)],
                           args.repeats)
        add(case=name, metric='eval step s (deploy: BN folded)',
            iresnet=round(t1, 4), resnet=round(t0, 4),
            ratio=round(t1 / t0, 3))
        if args.compile:
            compiled(name, ours_fn, base_fn, ours.state_dict(),
                     base.state_dict(), x, args, add)
        del ours, base, deployed
        if args.deploy:
            deployed_rows((name, ours_fn, base_fn, lead, kind), args, add)

    if 101 in args.depths:
        x = torch.randn(args.batch, 3, args.size, args.size, device=device)
        peaks = []
        for with_cp in (False, True):
            model = IResNet(depth=101, with_cp=with_cp).to(device)
            step = make_step(model, x, 'train', device, False)
            step()
            with PeakMemory(device) as mem:
                step()
            peaks.append(mem.peak)
            del model
        add(case='2D depth 101', metric=mem_metric(device) + ', with_cp on/off',
            iresnet=round(peaks[1] / 2**20), resnet=round(peaks[0] / 2**20),
            ratio=round(peaks[1] / max(peaks[0], 1), 3))

    if args.extreme:
        extreme_depth(args, add)
    return rows


def compiled(name, ours_fn, base_fn, ours_sd, base_sd, x, args, add):
    """Train / eval / deploy-eval steps of the compiled networks, each with
    the A/A control: a second ResNet, same weights, compiled on its own.
    Fresh instances with the eager runs' weights, so nothing of the eager
    runs (memory formats, autocast) carries over."""

    def fresh(fn, state_dict):
        model = fn().to(args.device)
        model.load_state_dict(state_dict)
        return model

    # every compiled instance recompiles the shared forward code: start each
    # case from empty caches, so no case runs past dynamo's recompile limit
    # (after which it silently falls back to eager)
    torch._dynamo.reset()
    ours, deployed = fresh(ours_fn, ours_sd), fresh(ours_fn, ours_sd)
    deployed.switch_to_deploy()
    base, control = fresh(base_fn, base_sd), fresh(base_fn, base_sd)
    for model in (ours, deployed, base, control):
        model.compile()
    for mode, model in (('train', ours), ('eval', ours),
                        ('eval', deployed)):
        label = 'deploy (BN folded) + compiled' if model is deployed \
            else 'compiled'
        t1, t0, tc = alternate(
            [make_step(m, x, mode, args.device, False)
             for m in (model, base, control)], args.repeats, warmup=2)
        add(case=name, metric=f'{mode} step s ({label})',
            iresnet=round(t1, 4), resnet=round(t0, 4),
            ratio=round(t1 / t0, 3))
        add(case=name, metric=f'{mode} step s ({label}): A/A control, '
            'ResNet vs ResNet', iresnet=round(tc, 4), resnet=round(t0, 4),
            ratio=round(tc / t0, 3))


def shuffled(steps, repeats, warmup=2, seed=0):
    """Run each step ``warmup`` times, then ``repeats`` rounds running every
    step once in an order shuffled anew each round (a fixed alternation
    times the position in the round, not the step); medians in seconds."""
    for step in steps:
        for _ in range(warmup):
            step()
    rng = random.Random(seed)
    times = [[] for _ in steps]
    order = list(range(len(steps)))
    for _ in range(repeats):
        rng.shuffle(order)
        for i in order:
            start = time.perf_counter()
            steps[i]()
            times[i].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


@torch.no_grad()
def trained_like_bn(model, seed=0):
    """BN as after training: running statistics and affine parameters
    drawn at random (no zero gammas, whose all-zero convs would time the
    handling of denormals instead of the network)."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 0.2)
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            if m.affine:
                m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.2)
    model.eval()  # mmdet's ResNet.train returns None
    return model


def fuse_reference(model):
    """The ResNet a user deploys: mmcv's ``fuse_conv_bn`` (mmdet's
    ``--fuse-conv-bn``), which folds BNs after 2D convs, and the same fold
    for the 3D convs of mmaction's ConvModules."""
    from mmcv.cnn import ConvModule, fuse_conv_bn

    from mm_iresnet.models.fuse import fold_named
    model = fuse_conv_bn(model)
    for m in model.modules():
        if isinstance(m, ConvModule) and m.with_norm and \
                fold_named(m, 'conv', m.norm_name):
            m.with_norm = False
    model.eval()
    return model


def optimised_nodes(path):
    """The kernels (op type and attributes, a multiset) of the graph
    onnxruntime runs for ``path`` after its CPU graph optimisations
    (layout transforms and fusions included)."""
    import onnx
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.graph_optimization_level = \
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = path + '.optimised'
    options.log_severity_level = 3  # its hardware-specific-file warning
    ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
    graph = onnx.load(path + '.optimised').graph
    return collections.Counter(
        (n.op_type, tuple(sorted((a.name, str(onnx.helper.get_attribute_value(
            a))) for a in n.attribute))) for n in graph.node)


def native_pools(model):
    """``model`` with its SeparableMaxPools back as PyTorch's pools (what
    the deploy form had before them)."""
    import torch.nn as nn

    from mm_iresnet.models.layers import SeparableMaxPool
    for module in model.modules():
        for key, child in module._modules.items():
            if isinstance(child, SeparableMaxPool):
                pool = nn.MaxPool2d if child.dim == 2 else nn.MaxPool3d
                module._modules[key] = pool(child.kernel_size, child.stride,
                                            child.padding)
    return model


def deployed_rows(case, args, add):
    """Eager deploy eval and onnxruntime eval of IResNet vs ResNet, both
    folded, each with an A/A control (see the module docstring)."""
    import tempfile

    name, ours_fn, base_fn, lead, kind = case
    torch.set_flush_denormal(True)
    size = args.size if kind == '2d' else args.size // 2
    x = torch.randn(args.batch, *lead, size, size)
    ours = trained_like_bn(ours_fn(), seed=1)
    ours.switch_to_deploy()
    base = fuse_reference(trained_like_bn(base_fn(), seed=2))
    control = fuse_reference(trained_like_bn(base_fn(), seed=2))
    native = native_pools(copy.deepcopy(ours))
    with torch.no_grad():
        outs = [m(x) for m in (ours, base, control, native)]
    outs = [o if isinstance(o, tuple) else (o, ) for o in outs]
    assert all(torch.isfinite(t).all() for o in outs for t in o), name
    assert all(torch.equal(a, b) for a, b in zip(outs[0], outs[3])), name
    t1, t0, tc, tn = shuffled(
        [make_step(m, x, 'eval', 'cpu', False) for m in
         (ours, base, control, native)], args.deploy_repeats)
    label = 'eval s (eager deploy: BN folded; ResNet fuse_conv_bn)'
    add(case=name, metric=label, iresnet=round(t1, 4), resnet=round(t0, 4),
        ratio=round(t1 / t0, 3))
    add(case=name, metric=f'{label}, shortcut pools as nn.MaxPool (before '
        'SeparableMaxPool)', iresnet=round(tn, 4), resnet=round(t0, 4),
        ratio=round(tn / t0, 3))
    add(case=name, metric=f'{label}: A/A control, ResNet vs ResNet',
        iresnet=round(tc, 4), resnet=round(t0, 4), ratio=round(tc / t0, 3))
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        print('onnxruntime rows skipped: pip install "mm_iresnet[deploy]"')
        return
    from mm_iresnet.deploy import export_module, make_session, rel_errors
    feed = x.numpy()
    axes_kind = 'detector' if kind == '2d' else 'backbone3d'
    nodes = {}
    with tempfile.TemporaryDirectory() as tmp:
        steps, labels = [], []
        for exporter in args.exporters:
            for who, model in (('iresnet', ours), ('resnet', base)):
                path = osp.join(tmp, f'{who}_{exporter}.onnx')
                export_module(model, x, path, kind=axes_kind,
                              exporter=exporter)
                session = make_session(path, torch.get_num_threads())
                # a graph is timed only when it computes the network
                err = max(rel_errors(session.run(None, {'inputs': feed}),
                                     outs[0 if who == 'iresnet' else 1]))
                assert err <= 1e-4, (name, exporter, who, err)
                steps.append(session)
                labels.append((exporter, who))
            # A/A: a second session of the same ResNet graph
            steps.append(make_session(path, torch.get_num_threads()))
            labels.append((exporter, 'control'))
            for who in ('iresnet', 'resnet'):
                nodes[exporter, who] = optimised_nodes(
                    osp.join(tmp, f'{who}_{exporter}.onnx'))
        times = shuffled([lambda s=s: s.run(None, {'inputs': feed})
                          for s in steps], args.deploy_repeats)
    t = dict(zip(labels, times))
    for exporter in args.exporters:
        ours_nodes, base_nodes = nodes[exporter, 'iresnet'], \
            nodes[exporter, 'resnet']
        extra = collections.Counter(op for op, _ in ours_nodes.elements()) \
            - collections.Counter(op for op, _ in base_nodes.elements())
        add(case=name, metric=f'onnxruntime kernels after graph optimisation '
            f'({exporter} export; IResNet extra: ' + ', '.join(
                f'{n} {op}' for op, n in sorted(extra.items())) + ')',
            iresnet=sum(ours_nodes.values()),
            resnet=sum(base_nodes.values()),
            ratio=round(sum(ours_nodes.values()) /
                        sum(base_nodes.values()), 3))
    if len(args.exporters) > 1:
        same = all(nodes[e, who] == nodes[args.exporters[0], who]
                   for e in args.exporters for who in ('iresnet', 'resnet'))
        add(case=name, metric='onnxruntime graphs after optimisation: the '
            f'same kernels from {" and ".join(args.exporters)} exports',
            iresnet='yes' if same else 'no', resnet='-', ratio='-')
    for exporter in args.exporters:
        label = f'eval s (onnxruntime, {exporter} export, BN folded)'
        t1, t0 = t[exporter, 'iresnet'], t[exporter, 'resnet']
        tc = t[exporter, 'control']
        add(case=name, metric=label, iresnet=round(t1, 4),
            resnet=round(t0, 4), ratio=round(t1 / t0, 3))
        add(case=name, metric=f'{label}: A/A control, ResNet vs ResNet',
            iresnet=round(tc, 4), resnet=round(t0, 4),
            ratio=round(tc / t0, 3))


def detector_ratio(args, add):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmdet.registry import MODELS
    from mmdet.testing import demo_mm_inputs
    init_default_scope('mmdet')
    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    cfg = Config.fromfile(osp.join(root, 'configs', 'coco',
                                   'faster_rcnn_iresnet50.py'))
    cfg.model.backbone.init_cfg = None
    ours = MODELS.build(cfg.model).to(args.device)
    base_cfg = cfg.model.copy()
    base_cfg.backbone = dict(cfg.model.backbone, type='ResNet')
    base = MODELS.build(base_cfg).to(args.device)
    base.load_state_dict(
        {k: v for k, v in ours.state_dict().items()
         if not k.startswith('backbone.')}, strict=False)
    size = args.size * 2
    data = demo_mm_inputs(batch_size=args.batch, image_shapes=(3, size, size),
                          num_items=[3] * args.batch)

    def step_for(model):
        params = [p for p in model.parameters() if p.requires_grad]
        optim = torch.optim.SGD(params, lr=1e-4, momentum=0.9)
        batch = model.data_preprocessor(data, training=True)
        model.train()

        def step():
            torch.manual_seed(0)  # same proposals sampling for both
            losses = model.loss(batch['inputs'], batch['data_samples'])
            loss = sum(v.sum() if isinstance(v, torch.Tensor) else sum(v)
                       for k, v in losses.items() if 'loss' in k)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            sync(args.device)
        return step

    t1, t0 = alternate([step_for(ours), step_for(base)], args.repeats)
    add(case=f'Faster R-CNN 50 @{size}', metric='train step s (fp32)',
        iresnet=round(t1, 4), resnet=round(t0, 4), ratio=round(t1 / t0, 3))


def extreme_depth(args, add):
    """One SGD train step of iResNet-404 and -1001 at 224x224, batch 1,
    with_cp=True, each in a fresh process: time and peak resident memory."""
    import json
    import subprocess
    code = '''
import json, resource, sys, time, torch
sys.path.insert(0, {root!r})
from mm_iresnet.models import IResNet
torch.manual_seed(0)
model = IResNet(depth={depth}, with_cp=True, norm_eval=False).train()
opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
x = torch.randn(1, 3, 224, 224)
start = time.perf_counter()
loss = sum(o.mean() for o in model(x))
loss.backward()
opt.step()
took = time.perf_counter() - start
finite = bool(torch.isfinite(loss))
print(json.dumps(dict(seconds=took, finite=finite,
      params=sum(p.numel() for p in model.parameters()),
      peak_gib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)))
'''
    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    for depth in (404, 1001):
        out = subprocess.run(
            [sys.executable, '-c', code.format(root=root, depth=depth)],
            capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        add(case=f'iResNet-{depth} (with_cp) @224 b1',
            metric='train step s / peak RSS GiB / params M',
            iresnet=f"{r['seconds']:.1f} / {r['peak_gib']:.1f} / "
            f"{r['params'] / 1e6:.0f}", resnet='-',
            ratio='finite' if r['finite'] else 'NOT finite')


def profile(args):
    """Where the time goes: ops of one IResNet-50 and ResNet-50 train step
    by self CPU time."""
    from mmdet.models.backbones import ResNet
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile
    x = torch.randn(args.batch, 3, args.size, args.size)
    for name, model in (('IResNet-50', IResNet(depth=50)),
                        ('ResNet-50', ResNet(depth=50))):
        step = make_step(model, x, 'train', 'cpu', False)
        step()
        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            step()
        print(f'\n== {name}: train step, top ops by self CPU time')
        print(prof.key_averages().table(sort_by='self_cpu_time_total',
                                        row_limit=12))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--depths', nargs='*', type=int,
                        default=[18, 50, 101])
    parser.add_argument('--size', type=int, default=160)
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--no-video', dest='video', action='store_false')
    parser.add_argument('--no-detector', dest='detector',
                        action='store_false')
    parser.add_argument('--extreme', action='store_true',
                        help='also train a step of iResNet-404 and -1001 at '
                        '224x224 with with_cp (about 10 s, 3.5 GiB on CPU)')
    parser.add_argument('--compile', action='store_true',
                        help='also time the networks under torch.compile, '
                        'with an A/A control (minutes of compilation)')
    parser.add_argument('--deploy', action='store_true',
                        help='also time inference as deployed: eager deploy '
                        'form and onnxruntime, with A/A controls')
    parser.add_argument('--deploy-only', action='store_true',
                        help='only the --deploy rows')
    parser.add_argument('--deploy-repeats', type=int, default=30,
                        help='shuffled rounds of the --deploy rows')
    parser.add_argument('--exporters', nargs='+',
                        choices=['torchscript', 'dynamo'],
                        default=['torchscript'],
                        help='ONNX exporters timed by --deploy')
    parser.add_argument('--profile', action='store_true',
                        help='also print a torch.profiler table')
    parser.add_argument('--device', default='cuda'
                        if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--out-dir', default='work_dirs/benchmark')
    args = parser.parse_args(argv)
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    start = time.time()
    rows = run(args)
    os.makedirs(args.out_dir, exist_ok=True)
    with open(osp.join(args.out_dir, 'benchmark.csv'), 'w',
              newline='') as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    machine = (torch.cuda.get_device_name() if args.device == 'cuda' else
               f'CPU, {torch.get_num_threads()} threads')
    lines = [f'Machine: {machine}; torch {torch.__version__}; batch '
             f'{args.batch}, {args.size}x{args.size} (3D: 8 frames at '
             f'{args.size // 2}x{args.size // 2}); medians of '
             f'{args.repeats} alternating runs' + (
                 f'; deploy rows: medians of {args.deploy_repeats} rounds in '
                 'shuffled order, denormals flushed'
                 if args.deploy or args.deploy_only else '') + '.', '',
             '| case | metric | IResNet | ResNet | ratio |',
             '|---|---|---|---|---|']
    lines += [f"| {r['case']} | {r['metric']} | {r['iresnet']} | "
              f"{r['resnet']} | {r['ratio']} |" for r in rows]
    table = '\n'.join(lines)
    with open(osp.join(args.out_dir, 'benchmark.md'), 'w') as f:
        f.write(table + '\n')
    print('\n' + table)
    print(f'\n({time.time() - start:.0f} s)')
    if args.profile:
        profile(args)
    return rows


if __name__ == '__main__':
    main()
