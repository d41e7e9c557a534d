"""``--processes K``: the whole benchmark in K fresh processes, one after
the other, and one table of their medians.

Within one process two identical networks allocate the same sizes in the
same order, so the A/A control shares the luck of that process's memory
layout (where the allocator puts the tensors, which pages it returns to the
OS and touches again), while IResNet, which allocates other sizes, draws its
own. A ratio therefore moves from process to process by more than the A/A
control shows. Each row's ratio here is the median of the processes'
ratios, with their range beside it."""
import csv
import os.path as osp
import statistics
import subprocess
import sys

from .harness import Rows


def child_argv(argv, index, out_dir):
    """``argv`` for process ``index``: one process, the output folder
    ``out_dir`` and its own shuffle seed (any ``--processes``/``--out-dir``/
    ``--seed`` given is replaced)."""
    dropped = {'--processes', '--out-dir', '--seed'}
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in dropped:
            skip = True
        elif arg.split('=')[0] not in dropped:
            kept.append(arg)
    return kept + [
        '--processes', '1', '--seed',
        str(index), '--out-dir', out_dir
    ]


def read_rows(path):
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


def number(text):
    try:
        return float(text)
    except ValueError:
        return None


def merge(tables):
    """One row per row of the first table: medians of the IResNet and ResNet
    columns and of the ratio, and the ratios' range over the tables."""
    if len({len(table) for table in tables}) != 1:
        raise RuntimeError('the processes made different numbers of rows')
    rows = Rows()
    for parts in zip(*tables):
        keys = {(r['case'], r['metric']) for r in parts}
        if len(keys) != 1:
            raise RuntimeError(f'the processes made different rows: {keys}')
        first = parts[0]
        ratios = [number(r['ratio']) for r in parts]
        if None in ratios:  # a row of text: the first process's
            rows.add(**first)
            continue
        row = dict(case=first['case'], metric=first['metric'])
        for key in ('iresnet', 'resnet'):
            values = [number(r[key]) for r in parts]
            row[key] = first[key] if None in values else \
                round(statistics.median(values), 4)
        row['ratio'] = round(statistics.median(ratios), 3)
        row['range'] = f'{min(ratios):.3f}-{max(ratios):.3f}'
        rows.add(**row)
    return rows


def run_processes(argv, args, script):
    """Run ``script`` with ``argv`` in ``args.processes`` processes; the
    merged rows."""
    tables = []
    for index in range(args.processes):
        out_dir = osp.join(args.out_dir, f'process{index}')
        print(f'--- process {index + 1} of {args.processes}', flush=True)
        subprocess.run(
            [sys.executable, script, *child_argv(argv, index, out_dir)],
            check=True)
        tables.append(read_rows(osp.join(out_dir, 'benchmark.csv')))
    print(f'--- medians over {args.processes} processes', flush=True)
    return merge(tables)
