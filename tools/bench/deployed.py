"""Deployed inference: the eager deploy form (BN folded) against ResNet
folded by mmcv's ``fuse_conv_bn``, and onnxruntime sessions of both
exported by each exporter, each beside an A/A control; trained-like BN,
denormals flushed (for these rows only: :func:`flushed_denormals`), the
contenders' order shuffled every round, pinned threads."""
import collections
import contextlib
import os.path as osp
import tempfile

import torch

from .contenders import fuse_reference, native_pools, trained_like_bn, twin
from .harness import make_step, shuffled

EAGER = 'eval s (eager deploy: BN folded; ResNet fuse_conv_bn)'


def deploy_forms(case):
    """The folded networks: ours (deploy form), base, its twin (the A/A
    control), and ours with PyTorch's pools."""
    ours = trained_like_bn(case.ours(), seed=1)
    ours.switch_to_deploy()
    base = fuse_reference(trained_like_bn(case.base(), seed=2))
    return dict(
        ours=ours,
        base=base,
        control=twin(base),
        native_pools=native_pools(twin(ours)))


def eager_deploy_rows(case, forms, x, args, rows):
    """Checks the forms compute what they should, then times them."""
    with torch.no_grad():
        outs = {k: m(x) for k, m in forms.items()}
    outs = {k: o if isinstance(o, tuple) else (o, ) for k, o in outs.items()}
    assert all(torch.isfinite(t).all() for o in outs.values() for t in o)
    assert all(
        torch.equal(a, b)
        for a, b in zip(outs['ours'], outs['native_pools'])), case.name
    times = shuffled(
        {
            k: make_step(m, x, 'eval', 'cpu')
            for k, m in forms.items()
        },
        args.deploy_repeats,
        seed=args.seed)
    rows.timed(case.name, EAGER, times)
    rows.ratio(case.name, f'{EAGER}, shortcut pools as nn.MaxPool',
               times['native_pools'].median, times['base'].median)
    return outs


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
        (n.op_type,
         tuple(
             sorted((a.name, str(onnx.helper.get_attribute_value(a)))
                    for a in n.attribute))) for n in graph.node)


def export_checked(model, x, path, kind, exporter, reference, threads):
    """Export ``model`` to ``path`` and open it in onnxruntime; a graph is
    timed only when it computes the network."""
    from mm_iresnet.deploy import export_module, make_session, rel_errors
    export_module(model, x, path, kind=kind, exporter=exporter)
    session = make_session(path, threads)
    err = max(rel_errors(session.run(None, {'inputs': x.numpy()}), reference))
    assert err <= 1e-4, (path, err)
    return session


def onnx_sessions(case, forms, outs, x, tmp, args):
    """Sessions keyed (exporter, who): ours, base, and the A/A control, a
    second session of base's file; and the optimised kernels of each."""
    kind = 'detector' if case.kind == '2d' else 'backbone3d'
    sessions, nodes = {}, {}
    for exporter in args.exporters:
        for who in ('ours', 'base'):
            path = osp.join(tmp, f'{who}_{exporter}.onnx')
            sessions[exporter,
                     who] = export_checked(forms[who], x, path, kind, exporter,
                                           outs[who], args.threads)
            nodes[exporter, who] = optimised_nodes(path)
        from mm_iresnet.deploy import make_session
        sessions[exporter, 'control'] = make_session(
            osp.join(tmp, f'base_{exporter}.onnx'), args.threads)
    return sessions, nodes


def kernel_rows(case, nodes, args, rows):
    for exporter in args.exporters:
        ours, base = nodes[exporter, 'ours'], nodes[exporter, 'base']
        extra = collections.Counter(op for op, _ in ours.elements()) - \
            collections.Counter(op for op, _ in base.elements())
        rows.add(
            case=case.name,
            metric='onnxruntime kernels after graph '
            f'optimisation ({exporter} export; IResNet extra: ' +
            ', '.join(f'{n} {op}' for op, n in sorted(extra.items())) + ')',
            iresnet=sum(ours.values()),
            resnet=sum(base.values()),
            ratio=round(sum(ours.values()) / sum(base.values()), 3))
    if len(args.exporters) > 1:
        same = all(nodes[e, w] == nodes[args.exporters[0], w]
                   for e in args.exporters for w in ('ours', 'base'))
        rows.add(
            case=case.name,
            metric='onnxruntime graphs after '
            'optimisation: the same kernels from '
            f'{" and ".join(args.exporters)} exports',
            iresnet='yes' if same else 'no',
            resnet='-',
            ratio='-')


def onnxruntime_rows(case, forms, outs, x, args, rows):
    """All exporters' sessions interleaved in one shuffled timing."""
    feed = {'inputs': x.numpy()}
    with tempfile.TemporaryDirectory() as tmp:
        sessions, nodes = onnx_sessions(case, forms, outs, x, tmp, args)
        times = shuffled(
            {
                key: lambda s=s: s.run(None, feed)
                for key, s in sessions.items()
            },
            args.deploy_repeats,
            seed=args.seed)
    kernel_rows(case, nodes, args, rows)
    for exporter in args.exporters:
        rows.timed(
            case.name, f'eval s (onnxruntime, {exporter} export, '
            'BN folded)',
            {who: times[exporter, who]
             for who in ('ours', 'base', 'control')})


def denormals_flushed() -> bool:
    """Whether this thread's CPU float arithmetic flushes denormals to zero
    now (torch has a setter, no getter: a denormal float32 times one reads
    zero when it does)."""
    return (torch.tensor(1e-40, dtype=torch.float32) * 1).item() == 0


@contextlib.contextmanager
def flushed_denormals():
    """Denormals flushed to zero inside the block (where the CPU supports
    it: ``torch.set_flush_denormal`` says so), the setting found before
    restored after it, so the rows timed later run as they would have."""
    before = denormals_flushed()
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(before)


def deployed_rows(case, args, rows):
    """The eager deploy rows, then the onnxruntime ones where it is
    installed, with denormals flushed while they run."""
    with flushed_denormals():
        x = torch.randn(args.batch, *case.shape(args.size))
        forms = deploy_forms(case)
        outs = eager_deploy_rows(case, forms, x, args, rows)
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            print('onnxruntime rows skipped: pip install '
                  '"mm_iresnet[deploy]"')
            return
        onnxruntime_rows(case, forms, outs, x, args, rows)
