"""Eager rows: size (params, FLOPs), train and eval steps in fp32,
channels-last and mixed precision, eval with PyTorch's shortcut pools,
eval of the deploy form, training memory, and what ``with_cp`` saves."""
import torch

from mm_iresnet.models import IResNet
from .contenders import native_pools, twin
from .harness import PeakMemory, dtype_name, make_step, shuffled


def low_precision(device):
    """The autocast dtype of the mixed-precision rows: fp16 on CUDA (AMP
    as trained there), bf16 on CPU."""
    return torch.float16 if device == 'cuda' else torch.bfloat16


def complexity(model, shape):
    from mmengine.analysis import get_model_complexity_info
    model.eval()
    info = get_model_complexity_info(
        model, input_shape=shape, show_table=False, show_arch=False)
    return info['params'], info['flops']


def complexity_rows(case, ours, base, shape, rows):
    p1, f1 = complexity(ours, shape)
    p0, f0 = complexity(base, shape)
    rows.add(
        case=case.name,
        metric='params',
        iresnet=p1,
        resnet=p0,
        ratio=round(p1 / p0, 4))
    rows.add(
        case=case.name,
        metric=f'GFLOPs@{shape[-1]}',
        iresnet=round(f1 / 1e9, 3),
        resnet=round(f0 / 1e9, 3),
        ratio=round(f1 / f0, 4))


def variants(x, device):
    """(label, input, memory format, autocast dtype) of the step rows."""
    fmt = torch.channels_last if x.dim() == 4 else torch.channels_last_3d
    dtype = low_precision(device)
    return (('fp32', x, None, None),
            ('channels_last', x.contiguous(memory_format=fmt), fmt,
             None), (dtype_name(dtype), x, None, dtype))


def step_rows(case, models, x, mode, args, rows):
    """One mode's rows in fp32, channels-last and mixed precision, each
    with its A/A control: ``models`` maps ours/base/control to networks."""
    for label, xx, fmt, dtype in variants(x, args.device):
        for model in models.values():
            model.to(memory_format=fmt or torch.contiguous_format)
        times = shuffled(
            {
                k: make_step(m, xx, mode, args.device, dtype)
                for k, m in models.items()
            },
            args.repeats,
            seed=args.seed)
        rows.timed(case.name, f'{mode} step s ({label})', times)
    for model in models.values():
        model.to(memory_format=torch.contiguous_format)


def pool_and_deploy_rows(case, models, x, args, rows):
    """Eval with the shortcut pools as ``nn.MaxPool`` (what the eval rows
    were before the separable form), and eval of the deploy form (BN
    folded), each against the same ResNet."""
    forms = dict(
        native_pools=native_pools(twin(models['ours'])),
        deployed=twin(models['ours']))
    forms['deployed'].switch_to_deploy()
    for key, label in (('native_pools', 'eval step s (fp32, shortcut '
                        'pools as nn.MaxPool)'),
                       ('deployed', 'eval step s (deploy: BN folded)')):
        times = shuffled(
            {
                k: make_step(m, x, 'eval', args.device)
                for k, m in dict(ours=forms[key], base=models['base']).items()
            },
            args.repeats,
            seed=args.seed)
        rows.timed(case.name, label, times)


def memory_row(case, ours, base, x, args, rows, label='', ndigits=None):
    """The training memory row of ``ours`` against ``base`` (MiB rounded to
    ``ndigits``; ``label`` follows the metric's name)."""
    peaks = []
    for model in (ours, base):
        with PeakMemory(args.device) as mem:
            make_step(model, x, 'train', args.device)()
        peaks.append(mem.peak)
    rows.add(
        case=case.name,
        metric=PeakMemory.metric(args.device) + label,
        iresnet=round(peaks[0] / 2**20, ndigits),
        resnet=round(peaks[1] / 2**20, ndigits),
        ratio=round(peaks[0] / max(peaks[1], 1), 3))


def eager_rows(case, args, rows):
    """Every eager row of ``case``; returns the two networks' weights (the
    compiled rows start from them)."""
    shape = case.shape(args.size)
    ours, base = case.ours(), case.base()
    complexity_rows(case, ours, base, shape, rows)
    x = torch.randn(args.batch, *shape, device=args.device)
    models = dict(
        ours=ours.to(args.device),
        base=base.to(args.device),
        control=twin(base).to(args.device))
    for mode in ('train', 'eval'):
        step_rows(case, models, x, mode, args, rows)
    pool_and_deploy_rows(case, models, x, args, rows)
    memory_row(case, ours, base, x, args, rows)
    return ours.state_dict(), base.state_dict()


def with_cp_row(args, rows):
    """Saved activations of an iResNet-101 train step with ``with_cp`` on
    against off."""
    x = torch.randn(args.batch, 3, args.size, args.size, device=args.device)
    peaks = []
    for with_cp in (False, True):
        model = IResNet(depth=101, with_cp=with_cp).to(args.device)
        step = make_step(model, x, 'train', args.device)
        step()
        with PeakMemory(args.device) as mem:
            step()
        peaks.append(mem.peak)
    rows.add(
        case='2D depth 101',
        metric=PeakMemory.metric(args.device) + ', with_cp on/off',
        iresnet=round(peaks[1] / 2**20),
        resnet=round(peaks[0] / 2**20),
        ratio=round(peaks[1] / max(peaks[0], 1), 3))
