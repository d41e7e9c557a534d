"""Benchmark IResNet against the ResNet a user would otherwise pick.

    python tools/benchmark.py [--depths 18 50 101] [--size 160] [--batch 2]
        [--repeats 5] [--threads N] [--no-video] [--no-detector]
        [--no-eager] [--extreme] [--profile] [--compile] [--training-pool]
        [--deploy [--deploy-only] [--exporters ...]]
        [--device cpu|cuda] [--processes K] [--seed S]
        [--out-dir work_dirs/benchmark]

In one process, on the same inputs, every timing in rounds that run each
contender once in an order shuffled anew every round; a ratio is the median
over rounds of IResNet / ResNet in the same round, beside its A/A control
(a second, identical ResNet against the first: the noise of the
measurement). Rows (``tools/bench/``):

* eager (``bench.eager``): params and FLOPs (mmengine's counter) of IResNet
  vs mmdet ``ResNet`` and IResNet3d vs mmaction ``ResNet3d`` (I3D); train
  step (forward + backward + SGD) and eval forward in fp32, channels-last and
  mixed precision (bf16 autocast on CPU, fp16 on CUDA); eval with the
  shortcut pools as ``nn.MaxPool``; eval of the deploy form; training memory
  (CUDA: ``max_memory_allocated``; CPU: bytes saved for backward); what
  ``with_cp`` saves at depth 101;
* ``--compile`` (``bench.compiled``): train, eval and deploy-form eval under
  ``torch.compile`` (inductor), the control compiled on its own;
* detector (``bench.detector``): a Faster R-CNN iResNet-50 vs R-50 train
  step, fp32 and AMP + channels-last;
* ``--deploy`` (``bench.deployed``): inference as deployed, the eager deploy
  form vs ResNet folded by mmcv's ``fuse_conv_bn`` and onnxruntime sessions
  exported by each of ``--exporters``, BN trained-like, denormals flushed;
* ``--extreme`` (``bench.extreme``): a train step of iResNet-404 and -1001;
* ``--profile`` (``bench.profiling``): the train step per op;
* ``--training-pool`` (``bench.training_pool``): the train step and saved
  bytes with the shortcut pools as the package runs them in training and
  as ``nn.MaxPool``, alone (quicker than the eager rows).

``--processes K`` (``bench.processes``) runs all of it in K fresh processes
and reports the median of their ratios with the range: a ratio moves from
process to process by more than its A/A control shows.

Absolute times depend on the machine; the ratios are the result. Prints a
Markdown table and writes ``benchmark.csv`` / ``benchmark.md``.
"""
import argparse
import csv
import logging
import os
import os.path as osp
import sys
import time

import torch
from bench.compiled import compiled_rows
from bench.contenders import cases
from bench.deployed import deployed_rows
from bench.detector import detector_rows
from bench.eager import eager_rows, low_precision, with_cp_row
from bench.extreme import extreme_rows
from bench.harness import Rows, pin_threads
from bench.processes import run_processes
from bench.profiling import profile_rows
from bench.training_pool import training_pool_rows
from mmengine.logging import MMLogger

import mm_iresnet  # noqa: F401

HERE = osp.dirname(osp.abspath(__file__))


def case_rows(case, args, rows):
    """Eager, compiled and deployed rows of one case."""
    torch.manual_seed(0)
    if args.eager:
        state_dicts = eager_rows(case, args, rows)
    else:
        state_dicts = case.ours().state_dict(), case.base().state_dict()
    if args.compile:
        compiled_rows(case, state_dicts, args, rows)
    if args.deploy:
        deployed_rows(case, args, rows)
    if args.training_pool:
        training_pool_rows(case, args, rows)


def run(args):
    rows = Rows()
    if args.detector:  # first: later compiled runs can slow eager ones
        detector_rows(args, rows, low_precision(args.device))
    for case in cases(args.depths, args.video):
        case_rows(case, args, rows)
    if args.eager and 101 in args.depths:
        with_cp_row(args, rows)
    if args.extreme:
        extreme_rows(args, rows)
    return rows


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--depths', nargs='*', type=int, default=[18, 50, 101])
    parser.add_argument('--size', type=int, default=160)
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument(
        '--repeats',
        type=int,
        default=5,
        help='shuffled rounds of the eager, compiled and '
        'detector rows')
    parser.add_argument(
        '--threads',
        type=int,
        default=None,
        help='intra-op threads (PyTorch and onnxruntime), '
        'pinned to as many cores; default: all')
    parser.add_argument('--no-video', dest='video', action='store_false')
    parser.add_argument('--no-detector', dest='detector', action='store_false')
    parser.add_argument(
        '--no-eager',
        dest='eager',
        action='store_false',
        help='leave out the eager rows')
    parser.add_argument(
        '--extreme',
        action='store_true',
        help='also train a step of iResNet-404 and -1001 at '
        '224x224 with with_cp (time and peak memory on a '
        '2-core CPU: docs/benchmarks.md)')
    parser.add_argument(
        '--compile',
        action='store_true',
        help='also time the networks under torch.compile '
        '(minutes of compilation)')
    parser.add_argument(
        '--deploy',
        action='store_true',
        help='also time inference as deployed: eager deploy '
        'form and onnxruntime')
    parser.add_argument(
        '--deploy-only', action='store_true', help='only the --deploy rows')
    parser.add_argument(
        '--deploy-repeats',
        type=int,
        default=30,
        help='shuffled rounds of the --deploy rows')
    parser.add_argument(
        '--exporters',
        nargs='+',
        choices=['torchscript', 'dynamo'],
        default=['torchscript'],
        help='ONNX exporters timed by --deploy')
    parser.add_argument(
        '--profile',
        action='store_true',
        help='also print the train step per op')
    parser.add_argument(
        '--training-pool',
        action='store_true',
        help='also time a train step with the shortcut pools as the '
        'package runs them and as nn.MaxPool (bench.training_pool)')
    parser.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument(
        '--processes',
        type=int,
        default=1,
        help='run everything in this many fresh processes '
        'and report the median ratio and the range')
    parser.add_argument(
        '--seed',
        type=int,
        default=0,
        help='seed of the rounds\' shuffled order')
    parser.add_argument('--out-dir', default='work_dirs/benchmark')
    args = parser.parse_args(argv)
    if args.deploy_only:
        args.eager = args.compile = args.detector = args.extreme = False
        args.deploy = True
    return args


def table(rows, args):
    machine = (
        torch.cuda.get_device_name() if args.device == 'cuda' else
        f'CPU, {args.threads or torch.get_num_threads()} threads')
    lines = [
        f'Machine: {machine}; torch {torch.__version__}; batch '
        f'{args.batch}, {args.size}x{args.size} (3D: 8 frames at '
        f'{args.size // 2}x{args.size // 2}); medians of '
        f'{args.repeats} shuffled rounds' +
        (f'; deploy rows: {args.deploy_repeats} rounds, denormals '
         'flushed' if args.deploy else '') +
        (f'; each row the median over {args.processes} processes, '
         'their ratios\' range beside it' if args.processes > 1 else '') + '.',
        ''
    ]
    spread = args.processes > 1
    lines += [
        '| case | metric | IResNet | ResNet | ratio |' +
        (' range |' if spread else ''),
        '|---|---|---|---|---|' + ('---|' if spread else '')
    ]
    lines += [
        f"| {r['case']} | {r['metric']} | {r['iresnet']} | "
        f"{r['resnet']} | {r['ratio']} |" +
        (f" {r.get('range', '')} |" if spread else '') for r in rows
    ]
    return '\n'.join(lines)


def write(rows, args):
    os.makedirs(args.out_dir, exist_ok=True)
    with open(osp.join(args.out_dir, 'benchmark.csv'), 'w', newline='') as f:
        fields = list(dict.fromkeys(k for row in rows for k in row))
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    text = table(rows, args)
    with open(osp.join(args.out_dir, 'benchmark.md'), 'w') as f:
        f.write(text + '\n')
    print('\n' + text)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    start = time.time()
    if args.processes > 1:
        rows = run_processes(argv, args, osp.abspath(__file__))
        write(rows, args)
        print(f'\n({time.time() - start:.0f} s)')
        return rows
    args.threads = pin_threads(args.threads or torch.get_num_threads())
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    rows = run(args)
    if rows:
        write(rows, args)
    print(f'\n({time.time() - start:.0f} s)')
    if args.profile:
        profile_rows(args)
    return rows


if __name__ == '__main__':
    main()
