"""Where the time goes: the eager IResNet-50 and ResNet-50 train step per
op (``torch.profiler``, self CPU time), side by side, by difference."""
import random

import torch

from .harness import make_step


def op_times(steps, rounds, seed=0):
    """Self CPU milliseconds per op name of each of ``steps`` (a dict of
    callables), mean over ``rounds`` steps after one to warm up, and the
    call counts. One step is profiled at a time, the steps alternating in
    an order shuffled every round, so that the machine's drift falls on
    both (profiling one network's steps, then the other's, times the
    machine as much as the networks)."""
    from torch.profiler import ProfilerActivity, profile
    for step in steps.values():
        step()
    totals = {key: {} for key in steps}
    order, rng = list(steps), random.Random(seed)
    for _ in range(rounds):
        rng.shuffle(order)
        for key in order:
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                steps[key]()
            for e in prof.key_averages():
                spent, _ = totals[key].get(e.key, (0.0, 0))
                totals[key][e.key] = (spent +
                                      e.self_cpu_time_total / 1e3 / rounds,
                                      e.count)
    return totals


def profile_rows(args, top=14):
    """Prints the ops whose time differs most, and the totals."""
    from mmdet.models.backbones import ResNet

    from mm_iresnet.models import IResNet
    torch.manual_seed(0)
    x = torch.randn(args.batch, 3, args.size, args.size)
    times = op_times(
        {
            key: make_step(build(depth=50), x, 'train', 'cpu')
            for key, build in (('ours', IResNet), ('base', ResNet))
        }, args.repeats, args.seed)
    ours, base = times['ours'], times['base']
    names = sorted(
        set(ours) | set(base),
        key=lambda n: -abs(ours.get(n, (0, 0))[0] - base.get(n, (0, 0))[0]))
    print(f'\n== train step, batch {args.batch}, {args.size}x{args.size}, '
          f'{args.repeats} alternating rounds: self CPU ms per op (calls), '
          'IResNet-50 vs ResNet-50')
    print('| op | IResNet-50 | ResNet-50 | difference |\n|---|---|---|---|')
    for name in names[:top]:
        (a, na), (b, nb) = ours.get(name, (0, 0)), base.get(name, (0, 0))
        print(f'| {name} | {a:.2f} ({na}) | {b:.2f} ({nb}) | {a - b:+.2f} |')
    total = [sum(t for t, _ in d.values()) for d in (ours, base)]
    print(f'| total | {total[0]:.2f} | {total[1]:.2f} | '
          f'{total[0] - total[1]:+.2f} |')
