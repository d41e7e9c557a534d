"""Helpers shared by the tests."""
import os
import os.path as osp
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch
from mmengine.model import BaseModel
from torch.nn.modules.batchnorm import _BatchNorm


def zip_strict(*iterables):
    """``zip(*iterables, strict=True)`` on every Python the package supports
    (the keyword came in 3.10): ValueError where the lengths differ."""
    items = [list(it) for it in iterables]
    if len({len(it) for it in items}) > 1:
        raise ValueError(f'zip_strict: lengths {[len(it) for it in items]}')
    return zip(*items)


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def randomise_bn(model, spread=0.3):
    """Non-trivial BN statistics and affine parameters, so that a test of
    eval-mode numerics exercises them."""
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            m.running_mean.uniform_(-spread, spread)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-spread, spread)
    return model


class TinyModel(BaseModel):
    """The smallest mmengine model, for runner tests."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(2, 2)

    def forward(self, *args, **kwargs):
        return {}


#: outputs of the official iResNet code (see fixtures/official/README.md)
OFFICIAL_FIXTURES = osp.join(osp.dirname(__file__), 'fixtures', 'official')


def load_fixture(version, name):
    """Official outputs of model ``name`` at ``version`` ('master_babdc4f'
    or 'pr_310124e')."""
    return torch.load(
        osp.join(OFFICIAL_FIXTURES, version, f'{name}.pt'), weights_only=True)


def rel_err(a, b):
    """||a - b|| / ||b||."""
    return ((a - b).norm() / b.norm()).item()


def free_port() -> int:
    """A free TCP port on the loopback address (torch.distributed's)."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def moving_shapes_overrides(data_root, num_val, iters):
    """--cfg-options of a tiny run of a moving-shapes demo config: its data
    generated under ``data_root`` (16 training clips of 8 frames, 32x32),
    ``iters`` iterations, validated and saved at the end, the warm-up of 2
    iterations and the cosine schedule fitted to them."""
    data_root = str(data_root) + '/'
    gen = dict(
        num_train=16, num_val=num_val, num_frames=8, image_size=32, seed=5)
    loaders = ('train_dataloader', 'val_dataloader', 'test_dataloader')
    return [
        f'{loader}.dataset.{key}' for loader in loaders
        for key in [f'data_root={data_root}'] +
        [f'generate.{k}={v}' for k, v in gen.items()]
    ] + [
        f'train_cfg.max_iters={iters}',
        f'train_cfg.val_interval={iters}',
        'default_hooks.logger.interval=1',
        'param_scheduler.0.end=2',
        'param_scheduler.1.begin=2',
        f'param_scheduler.1.end={iters}',
    ]


def nonempty(items):
    """``items`` as a list, asserted non-empty: ``all()`` of nothing is
    True and ``any()`` of nothing False, so a check over no items would
    pass whatever the code did."""
    items = list(items)
    assert items, 'nothing to check: the list is empty'
    return items


def popen_group(args, **kwargs):
    """``subprocess.Popen(args, **kwargs)`` in a process group of its own
    (the process and whatever it starts: torchrun's workers, a script's
    commands, dataloader workers), stdin from /dev/null unless given; end
    it with :func:`kill_group` in a ``finally``."""
    kwargs.setdefault('stdin', subprocess.DEVNULL)
    return subprocess.Popen(args, start_new_session=True, **kwargs)


def kill_group(proc, reap_s=60):
    """SIGKILL the process group of ``proc`` (from :func:`popen_group`) and
    reap ``proc``: what the test started ends with it, whether it ended,
    hung or left children behind."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):  # the group has ended
        pass
    proc.wait(timeout=reap_s)


def _tail(text, n=3000):
    if isinstance(text, bytes):
        text = text.decode(errors='replace')
    return (text or '')[-n:]


def run_process(args, timeout, check=False, **kwargs):
    """``subprocess.run(args, timeout=timeout, check=check, **kwargs)`` in a
    process group of its own, killed in ``finally``: at the deadline
    (``subprocess.TimeoutExpired``), on any other exception during the wait
    (pytest-timeout's failure, Ctrl-C), both with the output so far printed
    to stderr, and once the process has ended (children it left behind,
    which would otherwise hold its pipes open)."""
    if kwargs.pop('capture_output', False):
        kwargs.update(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc = popen_group(args, **kwargs)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                out, err = proc.communicate(
                    timeout=max(0, min(1, deadline - time.monotonic())))
                break
            except subprocess.TimeoutExpired:
                if proc.poll() is not None:
                    # ended: what it left behind holds its pipes open
                    kill_group(proc)
                    out, err = proc.communicate(timeout=60)
                    break
                if time.monotonic() >= deadline:
                    raise
    except BaseException as e:
        kill_group(proc)
        try:  # what it wrote before the kill
            out, err = proc.communicate(timeout=60)
        except Exception:
            out = err = None
        print(
            f'{args}: killed with its process group ({type(e).__name__}'
            f' after at most {timeout} s); its output:\n{_tail(out)}\n'
            f'{_tail(err)}',
            file=sys.stderr)
        if isinstance(e, subprocess.TimeoutExpired):
            raise subprocess.TimeoutExpired(args, timeout, out, err) \
                from None
        raise
    finally:
        kill_group(proc)
    if check and proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, args, out, err)
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def run_control(step, name, expected, what):
    """The control of a zoo walk: ``step()`` runs ``what`` (mmdet's or
    mmaction2's own model) on the config ``name``. It must run, unless
    ``expected`` (the walk's {config name: text of its error}) lists the
    config: then it must fail with that error, and the test is skipped
    naming it. Any other control failure fails the test (a regression in a
    step the control shares cannot turn the walk into skips), and so does a
    listed config whose control runs (the list stays true)."""
    reason = expected.get(name)
    try:
        step()
    except Exception as e:
        failure = f'{type(e).__name__}: {e}'
        if reason is None or reason not in failure:
            listed = '' if reason is None else f' (listed with: {reason})'
            pytest.fail(f'{what} fails on {name}, not an expected control '
                        f'failure{listed}: {failure[:500]}')
        pytest.skip(f'expected control failure, {len(expected)} in this '
                    f'walk: {what} fails on {name}: {failure[:200]}')
    if reason is not None:
        pytest.fail(f'{name} is listed as an expected control failure '
                    f'({reason}), but {what} runs there now: take it off '
                    'the list')
