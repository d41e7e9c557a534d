"""tools/benchmark.py's harness and its detector row: shuffled rounds with
paired ratios, and the mixed-precision + channels-last train step that
``--device cuda`` runs with fp16, exercised here with bf16 autocast."""
import argparse
import os.path as osp

import pytest
import torch

from .helpers import nonempty, run_process
from .scripts import load_script


@pytest.fixture(scope='module')
def bench(root):
    """The tool's modules (loaded as ``python tools/benchmark.py`` runs:
    tools/ first on the path)."""
    load_script(root, 'tools', 'benchmark.py')
    import bench.detector
    import bench.harness
    return bench


def test_shuffled_rounds_and_paired_ratio(bench):
    harness = bench.harness
    calls = []
    steps = {k: (lambda k=k: calls.append(k)) for k in 'abc'}
    times = harness.shuffled(steps, repeats=20, warmup=2, seed=0)
    assert calls[:6] == ['a', 'a', 'b', 'b', 'c', 'c']  # the warm-up
    rounds = [tuple(calls[i:i + 3]) for i in range(6, len(calls), 3)]
    assert all(sorted(r) == ['a', 'b', 'c'] for r in nonempty(rounds))
    assert len(set(rounds)) > 1  # the order changes between rounds
    assert {k: len(t) for k, t in times.items()} == dict(a=20, b=20, c=20)
    # the ratio is the median of the rounds' own ratios (1.1, 1.5, 1.2),
    # not the ratio of the medians (1.5 / 1.0): the third round, where the
    # machine is slow for both, does not move it
    ours = harness.Times([1.1, 1.5, 6.0])
    base = harness.Times([1.0, 1.0, 5.0])
    assert ours.ratio_to(base) == pytest.approx(1.2)
    assert ours.median / base.median == pytest.approx(1.5)
    rows = harness.Rows()
    rows.timed(
        'case', 'm',
        dict(ours=ours, base=base, control=harness.Times([1.0, 1.0, 6.0])))
    assert [r['ratio'] for r in rows] == [1.2, 1.0]
    # the columns beside it are each contender's median
    medians = [(r['iresnet'], r['resnet']) for r in rows]
    assert medians == [(1.5, 1.0), (1.0, 1.0)]
    assert rows[1]['metric'] == 'm: A/A control, ResNet vs ResNet'


@pytest.mark.slow
def test_detector_row_mixed_precision_channels_last(bench):
    """The detector row's fp32 and AMP + channels-last train steps (bf16 on
    CPU; fp16 with a gradient scaler on CUDA): finite loss, channels-last
    weights, a step that changes them, and rows with their A/A controls."""
    from mmdet.testing import demo_mm_inputs
    detector = bench.detector
    torch.manual_seed(0)
    ours, base = detector.build_detectors('cpu')
    data = demo_mm_inputs(
        batch_size=1, image_shapes=(3, 96, 96), num_items=[2])
    weight = next(p for p in ours.backbone.parameters()
                  if p.requires_grad and p.dim() == 4)
    before = weight.detach().clone()
    step = detector.detector_step(
        ours, data, 'cpu', dtype=torch.bfloat16, channels_last=True)
    loss = step()
    assert torch.isfinite(loss)
    assert weight.is_contiguous(memory_format=torch.channels_last)
    assert not torch.equal(before, weight)
    rows = bench.harness.Rows()
    args = argparse.Namespace(
        device='cpu', size=48, batch=1, repeats=1, seed=0)
    detector.detector_rows(args, rows, torch.bfloat16)
    assert [r['metric'] for r in rows] == [
        'train step s (fp32)', 'train step s (fp32): A/A control, ResNet vs '
        'ResNet', 'train step s (AMP bf16 backbone+neck, channels_last)',
        'train step s (AMP bf16 backbone+neck, channels_last): A/A '
        'control, ResNet vs ResNet'
    ]


def test_processes_child_arguments_and_merge(bench):
    """``--processes``: each process gets its own seed and folder; a row's
    ratio is the median of the processes' ratios, with their range."""
    import bench.processes as processes
    argv = [
        '--depths', '50', '--processes', '3', '--out-dir', 'x', '--seed=4',
        '--no-video'
    ]
    assert processes.child_argv(argv, 2, 'out/process2') == [
        '--depths', '50', '--no-video', '--processes', '1', '--seed', '2',
        '--out-dir', 'out/process2'
    ]

    def table(ratio, ours, base=1.0):
        return [
            dict(
                case='c',
                metric='params',
                iresnet='10',
                resnet='10',
                ratio='1.0'),
            dict(
                case='c',
                metric='same kernels',
                iresnet='yes',
                resnet='-',
                ratio='-'),
            dict(
                case='c',
                metric='eval s',
                iresnet=str(ours),
                resnet=str(base),
                ratio=str(ratio))
        ]

    # each process's ratio is its rounds' median, not its columns' ratio:
    # the merged ratio is the median of the ratios (1.2, 1.1, 0.9), not
    # the ratio of the merged columns (1.2 / 1.0)
    rows = processes.merge(
        [table(1.2, 1.2),
         table(1.1, 2.2, 2.0),
         table(0.9, 0.9)])
    assert rows[0]['ratio'] == 1.0 and rows[0]['range'] == '1.000-1.000'
    assert rows[1] == table(1, 1)[1]  # text: the first process's
    assert rows[2]['ratio'] == 1.1 and rows[2]['range'] == '0.900-1.200'
    assert (rows[2]['iresnet'], rows[2]['resnet']) == (1.2, 1.0)
    with pytest.raises(RuntimeError, match='different rows'):
        processes.merge([table(1, 1), table(1, 1)[::-1]])
    with pytest.raises(RuntimeError, match='numbers of rows'):
        processes.merge([table(1, 1), table(1, 1)[:2]])


@pytest.mark.slow
def test_processes_end_to_end(root, tmp_path):
    """Two real processes of a tiny eager run: each process's own table,
    and one merged table whose timed rows hold the median of the two
    processes' ratios and their range."""
    import csv
    import statistics
    import sys
    out = tmp_path / 'bench'
    proc = run_process([
        sys.executable,
        osp.join(root, 'tools', 'benchmark.py'), '--depths', '18',
        '--no-video', '--no-detector', '--size', '32', '--batch', '1',
        '--repeats', '2', '--processes', '2', '--out-dir',
        str(out)
    ],
                       timeout=600,
                       cwd=root,
                       capture_output=True,
                       text=True)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]

    def table(path):
        with open(path, newline='') as f:
            return list(csv.DictReader(f))

    merged = table(out / 'benchmark.csv')
    own = [table(out / f'process{i}' / 'benchmark.csv') for i in range(2)]
    timed = nonempty(i for i, r in enumerate(merged)
                     if r['metric'].startswith('eval step s'))
    for i in timed:
        ratios = [float(rows[i]['ratio']) for rows in own]
        assert [rows[i]['metric'] for rows in own] == [merged[i]['metric']] * 2
        assert float(merged[i]['ratio']) == round(
            statistics.median(ratios), 3), (merged[i], ratios)
        assert merged[i]['range'] == f'{min(ratios):.3f}-{max(ratios):.3f}'
    assert 'median over 2 processes' in (out / 'benchmark.md').read_text()


def test_profile_alternates_and_separates_the_steps(bench):
    """``--profile``: each step's ops are its own, with their call counts,
    the steps profiled one at a time in alternation."""
    import bench.profiling as profiling
    calls = []

    def add():
        calls.append('a')
        torch.ones(3).add_(1)

    def mul():
        calls.append('m')
        torch.ones(3).mul_(2).mul_(2)

    times = profiling.op_times(dict(a=add, m=mul), rounds=6)
    assert times['a']['aten::add_'][1] == 1 and 'aten::mul_' not in times['a']
    assert times['m']['aten::mul_'][1] == 2 and 'aten::add_' not in times['m']
    assert calls[:2] == ['a', 'm'] and len(calls) == 2 + 12  # warm-up, rounds
    rounds = [''.join(calls[i:i + 2]) for i in range(2, len(calls), 2)]
    assert set(rounds) == {'am', 'ma'}  # the order changes between rounds


def _denormal_kept():
    """A denormal float32 survives arithmetic (denormals not flushed)."""
    return (torch.tensor(1e-40, dtype=torch.float32) * 1).item() != 0


@pytest.mark.parametrize('flushed_before', [False, True])
def test_deploy_rows_flush_denormals_only_while_they_run(
        bench, monkeypatch, flushed_before):
    """The deploy rows (eager and onnxruntime) run with denormals flushed;
    the eager and compiled rows timed after them find the setting as it was
    before (torch has no getter: a denormal's product tells)."""
    import bench.deployed as deployed
    if not torch.set_flush_denormal(False):
        pytest.skip('this CPU cannot flush denormals')
    seen = []
    monkeypatch.setattr(deployed, 'deploy_forms', lambda case: {})
    monkeypatch.setattr(deployed, 'eager_deploy_rows',
                        lambda *args: seen.append(_denormal_kept()))
    monkeypatch.setattr(deployed, 'onnxruntime_rows',
                        lambda *args: seen.append(_denormal_kept()))
    case = argparse.Namespace(shape=lambda size: (3, size, size))
    args = argparse.Namespace(batch=1, size=8)
    try:
        torch.set_flush_denormal(flushed_before)
        assert deployed.denormals_flushed() is flushed_before
        deployed.deployed_rows(case, args, rows=None)
        assert seen == [False, False]  # flushed inside: both rows
        assert _denormal_kept() is not flushed_before
        # restored after a row that raises too
        monkeypatch.setattr(deployed, 'deploy_forms', lambda case: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            deployed.deployed_rows(case, args, rows=None)
        assert _denormal_kept() is not flushed_before
    finally:
        torch.set_flush_denormal(False)


def test_training_pool_rows(bench):
    """``--training-pool``: the train step with the package's shortcut
    pools and with nn.MaxPool, each against ResNet, the A/A control, and
    the bytes saved for backward, which the byte indices make fewer."""
    import bench.contenders
    import bench.training_pool
    case = next(bench.contenders.cases([18], video=False))
    args = argparse.Namespace(
        size=96, batch=1, device='cpu', repeats=1, seed=0)
    rows = bench.harness.Rows()
    bench.training_pool.training_pool_rows(case, args, rows)
    by_metric = {r['metric']: r for r in rows}
    assert set(by_metric) == {
        'train step s (fp32, --training-pool)',
        'train step s (fp32, --training-pool): A/A control, ResNet vs '
        'ResNet', 'train step s (fp32, shortcut pools as nn.MaxPool)',
        'train saved-for-backward MiB (--training-pool)',
        'train saved-for-backward MiB, shortcut pools as nn.MaxPool'
    }
    saved = by_metric['train saved-for-backward MiB (--training-pool)']
    native = by_metric[
        'train saved-for-backward MiB, shortcut pools as nn.MaxPool']
    assert saved['resnet'] == native['resnet']
    assert saved['iresnet'] < native['iresnet']
