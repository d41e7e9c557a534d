"""Timing harness: train / eval steps, rounds in shuffled order with paired
ratios, memory of a train step, and the table rows."""
import contextlib
import os
import random
import statistics
import time

import torch


class Rows(list):
    """The table: ``add`` appends a row and prints it."""

    def add(self, **row):
        self.append(row)
        print(' | '.join(f'{k}={v}' for k, v in row.items()), flush=True)

    def ratio(self, case, metric, ours, base):
        self.add(
            case=case,
            metric=metric,
            iresnet=round(ours, 4),
            resnet=round(base, 4),
            ratio=round(ours / base, 3))

    def timed(self, case, metric, times):
        """The IResNet / ResNet row and its A/A control (ResNet's twin vs
        ResNet) from :func:`shuffled` results keyed ours/base/control."""
        self.add(
            case=case,
            metric=metric,
            iresnet=round(times['ours'].median, 4),
            resnet=round(times['base'].median, 4),
            ratio=round(times['ours'].ratio_to(times['base']), 3))
        if 'control' in times:
            self.add(
                case=case,
                metric=f'{metric}: A/A control, ResNet vs '
                'ResNet',
                iresnet=round(times['control'].median, 4),
                resnet=round(times['base'].median, 4),
                ratio=round(times['control'].ratio_to(times['base']), 3))


def pin_threads(threads):
    """Run on ``threads`` intra-op threads, pinned to as many cores (where
    the OS allows), one inter-op thread: what moves between runs otherwise
    is where the threads land."""
    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)  # only before any parallel work
    if hasattr(os, 'sched_setaffinity'):
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, cores[:max(threads, 1)])
    return threads


def sync(device):
    if device == 'cuda':
        torch.cuda.synchronize()


def dtype_name(dtype):
    """'bf16' / 'fp16' for the row labels."""
    return {torch.bfloat16: 'bf16', torch.float16: 'fp16'}[dtype]


def autocast_for(device, dtype):
    """Autocast to ``dtype`` (None: off)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device, dtype=dtype)


def make_step(model, x, mode, device, dtype=None):
    """A callable running one train step (forward, backward, SGD) or one
    eval forward, under autocast to ``dtype`` when given."""
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.SGD(params, lr=1e-4, momentum=0.9) if params \
        else None

    def loss_of(outs):
        outs = outs if isinstance(outs, (tuple, list)) else (outs, )
        return sum(o.float().mean() for o in outs)

    def train_step():
        with autocast_for(device, dtype):
            loss = loss_of(model(x))
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        sync(device)

    def eval_step():
        with torch.no_grad(), autocast_for(device, dtype):
            model(x)
        sync(device)

    if mode == 'train':
        model.train()
        return train_step
    model.eval()
    return eval_step


class Times(list):
    """One contender's seconds, round by round."""

    @property
    def median(self):
        return statistics.median(self)

    def ratio_to(self, other):
        """Median over rounds of this / ``other`` in the same round: a
        round's two steps share the machine's state, which the ratio
        cancels (a ratio of medians would not)."""
        return statistics.median(a / b for a, b in zip(self, other))


def shuffled(steps, repeats, warmup=2, seed=0):
    """Run each of ``steps`` (a dict of callables) ``warmup`` times
    (compilation happens there), then ``repeats`` rounds running each once
    in an order shuffled anew every round (a fixed order times the position
    in the round, not the step). Returns a dict of :class:`Times`."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    rng = random.Random(seed)
    times = {key: Times() for key in steps}
    order = list(steps)
    for _ in range(repeats):
        rng.shuffle(order)
        for key in order:
            start = time.perf_counter()
            steps[key]()
            times[key].append(time.perf_counter() - start)
    return times


class PeakMemory:
    """Training memory of a block. CUDA: the allocator's peak growth. CPU
    (where the allocator's reuse hides growth from the resident set): the
    bytes of the distinct tensors autograd saves for backward, which is what
    grows with depth, batch and resolution and what ``with_cp`` saves."""

    def __init__(self, device):
        self.device = device
        self.peak = 0
        self.seen = {}

    def pack(self, t):
        try:
            key = (t.untyped_storage().data_ptr(), t.device)
            self.seen[key] = t.untyped_storage().nbytes()
        except (RuntimeError, NotImplementedError):
            pass
        return t

    def __enter__(self):
        if self.device == 'cuda':
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
            return self
        self.hooks = torch.autograd.graph.saved_tensors_hooks(
            self.pack, lambda t: t)
        self.hooks.__enter__()
        return self

    def __exit__(self, *exc):
        if self.device == 'cuda':
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated() - self.base
        else:
            self.hooks.__exit__(*exc)
            self.peak = sum(self.seen.values())

    @staticmethod
    def metric(device):
        return 'train peak MiB' if device == 'cuda' else \
            'train saved-for-backward MiB'
