"""Where the time goes: one eager IResNet-50 and ResNet-50 train step per
op (``torch.profiler``, self CPU time), side by side, by difference."""
import torch

from .harness import make_step


def op_times(model, x, steps=5):
    """Self CPU milliseconds per op name, mean of ``steps`` train steps
    (after one to warm up), and the call counts."""
    from torch.profiler import ProfilerActivity, profile
    step = make_step(model, x, 'train', 'cpu')
    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    return {e.key: (e.self_cpu_time_total / 1e3 / steps, e.count // steps)
            for e in prof.key_averages()}


def profile_rows(args, top=14):
    """Prints the ops whose time differs most, and the totals."""
    from mmdet.models.backbones import ResNet

    from mm_iresnet.models import IResNet
    torch.manual_seed(0)
    x = torch.randn(args.batch, 3, args.size, args.size)
    ours = op_times(IResNet(depth=50), x)
    base = op_times(ResNet(depth=50), x)
    names = sorted(set(ours) | set(base), key=lambda n: -abs(
        ours.get(n, (0, 0))[0] - base.get(n, (0, 0))[0]))
    print(f'\n== train step, batch {args.batch}, {args.size}x{args.size}: '
          'self CPU ms per op (calls), IResNet-50 vs ResNet-50')
    print('| op | IResNet-50 | ResNet-50 | difference |\n|---|---|---|---|')
    for name in names[:top]:
        (a, na), (b, nb) = ours.get(name, (0, 0)), base.get(name, (0, 0))
        print(f'| {name} | {a:.2f} ({na}) | {b:.2f} ({nb}) | {a - b:+.2f} |')
    total = [sum(t for t, _ in d.values()) for d in (ours, base)]
    print(f'| total | {total[0]:.2f} | {total[1]:.2f} | '
          f'{total[0] - total[1]:+.2f} |')
