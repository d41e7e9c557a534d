"""Depth training study: does iResNet train at extreme depth where ResNet
struggles?

Trains CIFAR-style networks (3x3 stem, three stages of basic blocks, 6n+2
layers, reduced width) of the family at an ordinary and an extreme depth, all
with the same data, optimiser, learning-rate schedule, batch and seeds, and
writes one CSV row per evaluation point as it goes::

    variant, depth, seed, step, train_loss, heldout_loss, heldout_acc,
    sec_per_step, finite, lr, last_stage_std

``train_loss`` is the mean training loss over the steps since the previous
row, ``sec_per_step`` their mean wall time (evaluation excluded),
``last_stage_std`` the standard deviation of the last stage's output on the
held-out images (eval mode, what the head sees). A run whose loss stops being
finite is recorded (``finite`` 0) and stopped there.

The data is generated here (nothing is downloaded), classes balanced by
construction. The default task, ``stripes``: 32x32 images with one or two
discs of stripes (random frequency, phase, contrast and colours) on the
textured background of the package's *shapes* set, plus pixel noise,
labelled by the orientation (0/45/90/135 degrees) of the **larger** disc.
The random phase makes a linear model on the pixels useless (it stays near
chance), while oriented energy (a quadratic feature) gets most labels right;
a shallow network does not solve it in the study's budget. ``--task shapes``
(an option, not the study's) labels crops of the shapes set by the kind of
their largest shape, a harder task.

The study is resumable: runs (variant, depth, seed) already finished in the
CSV are skipped; a run cut off half-way is dropped from the CSV and run
again. ``--short`` is a seconds-long version for tests. At the end it writes
the PNG (loss and held-out accuracy per depth) and a Markdown summary (step
at which each run first reaches ``--loss-threshold``, divergence, final
accuracy, wall time per step, end activation scale, ReLUs on the main path
per stage).

    python tools/analysis/depth_training.py --out-dir work_dirs/depth_training
    python tools/analysis/depth_training.py --short --out-dir /tmp/dt
"""
import argparse
import csv
import os
import os.path as osp
import time

import torch
from depth_csv import (COLUMNS, check_settings, finished_runs, read_rows,
                       run_key, write_rows)
from depth_report import plot, summarise, summary_markdown
from depth_runs import main_path_relus  # noqa
from depth_runs import STUDY_VARIANTS, calibrate, train_run
from depth_study import cifar_arch
from depth_task import largest_shape_image, make_task  # noqa: F401

#: the settings a CSV was made with; resuming with others is refused
SETTING_KEYS = ('width', 'batch', 'steps', 'eval_every', 'lr', 'momentum',
                'weight_decay', 'warmup', 'train_size', 'heldout_size',
                'data_seed', 'task', 'objects', 'crop')
#: the full study (calibrated to <= 60 minutes on 2 shared CPU cores)
FULL = dict(
    variants=STUDY_VARIANTS,
    depths=(20, 110, 1202),
    seeds=(0, 1),
    width=4,
    batch=16,
    steps=100,
    eval_every=10,
    lr=0.05,
    momentum=0.9,
    weight_decay=1e-4,
    warmup=10,
    train_size=1600,
    heldout_size=120,
    data_seed=0,
    task='stripes',
    objects=2,
    crop=1)
#: seconds-long version for the tests
SHORT = dict(
    FULL,
    depths=(8, 14),
    seeds=(0, ),
    batch=8,
    steps=4,
    eval_every=2,
    warmup=1,
    train_size=64,
    heldout_size=32)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--short', action='store_true', help='seconds-long version (tests)')
    parser.add_argument('--variants', nargs='+', choices=STUDY_VARIANTS)
    parser.add_argument('--depths', nargs='+', type=int)
    parser.add_argument('--seeds', nargs='+', type=int)
    parser.add_argument(
        '--deep-seeds',
        nargs='+',
        type=int,
        help='seeds for the deepest depth (default --seeds)')
    for key in ('width', 'batch', 'steps', 'eval_every', 'warmup',
                'train_size', 'heldout_size', 'data_seed', 'objects', 'crop'):
        parser.add_argument('--' + key.replace('_', '-'), type=int)
    for key in ('lr', 'momentum', 'weight_decay'):
        parser.add_argument('--' + key.replace('_', '-'), type=float)
    parser.add_argument('--task', choices=('stripes', 'shapes'))
    parser.add_argument(
        '--loss-threshold',
        type=float,
        default=1.2,
        help='report the first step whose train loss is at '
        'or below this (chance: ln 4 = 1.386)')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument(
        '--calibrate',
        action='store_true',
        help='only time one step of each variant and depth')
    parser.add_argument('--out-dir', default='work_dirs/depth_training')
    return parser.parse_args(argv)


def settings_of(args) -> dict:
    """The study's settings: SHORT or FULL, overridden by the arguments."""
    cfg = dict(SHORT if args.short else FULL)
    for key in cfg:
        if getattr(args, key, None) is not None:
            cfg[key] = getattr(args, key)
    if cfg['eval_every'] < 1 or cfg['steps'] < 1 or cfg['batch'] < 2:
        raise ValueError('steps and eval_every must be >= 1, batch >= 2')
    for depth in cfg['depths']:
        cifar_arch(depth)  # a clear error for a depth that is not 6n+2
    return cfg


def plan_runs(cfg: dict, deep_seeds) -> list:
    """(variant, depth, seed) in running order: by depth, then seed, the
    deepest depth's seeds one after the other, so that a cut-off study
    still has every variant at one seed."""
    deepest = max(cfg['depths'])
    plan = [(v, d, s) for d in sorted(cfg['depths']) for s in ((
        deep_seeds or cfg['seeds']) if d == deepest else cfg['seeds'])
            for v in cfg['variants']]
    return sorted(plan, key=lambda k: (k[1], k[2]))


def resume(out_dir: str, cfg: dict):
    """The CSV's path, its rows of finished runs (a run cut off half-way is
    dropped) and the set of finished runs."""
    os.makedirs(out_dir, exist_ok=True)
    csv_path = osp.join(out_dir, 'depth_training.csv')
    rows = read_rows(csv_path)
    check_settings(
        osp.join(out_dir, 'depth_training.json'),
        {k: cfg[k]
         for k in SETTING_KEYS}, bool(rows))
    done = finished_runs(rows, cfg['steps'])
    partial = {run_key(r) for r in rows} - done
    if partial:
        print(f'dropping unfinished runs {sorted(partial)}', flush=True)
        rows = [r for r in rows if run_key(r) in done]
        write_rows(csv_path, rows)
    elif not rows:
        write_rows(csv_path, [])
    return csv_path, rows, done


def study_data(cfg: dict):
    """The training and held-out images and labels."""
    start = time.time()
    data = tuple(
        make_task(cfg[f'{split}_size'], split, cfg['data_seed'],
                  cfg['objects'], bool(cfg['crop']), cfg['task'])
        for split in ('train', 'heldout'))
    print(
        f'data: {cfg["train_size"]} train + {cfg["heldout_size"]} '
        f'held-out images in {time.time() - start:.1f}s',
        flush=True)
    return data


def run_plan(plan, done, cfg, csv_path, rows):
    """Train the runs not done yet, appending their rows to the CSV."""

    def emit(row):
        rows.append(row)
        with open(csv_path, 'a', newline='') as f:
            csv.DictWriter(f, fieldnames=COLUMNS).writerow(row)

    data, study_start = None, time.time()
    for key in plan:
        if key in done:
            print(f'skip {key}: already in {csv_path}', flush=True)
            continue
        data = data or study_data(cfg)
        start = time.time()
        train_run(*key, cfg, data, emit)
        last = rows[-1]
        print(
            f'[{time.time() - study_start:7.0f}s] {key[0]:>13} depth '
            f'{key[1]:5d} seed {key[2]}: step {last["step"]}, train loss '
            f'{last["train_loss"]:.3f}, held-out acc '
            f'{last["heldout_acc"]:.3f}, {last["sec_per_step"]:.3f} s/step'
            f', run {time.time() - start:.0f}s',
            flush=True)


def report(rows, plan, out_dir, threshold, csv_path):
    """The Markdown summary and the figure."""
    relus = {(v, d): main_path_relus(v, d) for v, d, _ in plan}
    md = summary_markdown(summarise(rows, threshold, relus), threshold)
    with open(osp.join(out_dir, 'depth_training_summary.md'), 'w') as f:
        f.write(md)
    png = osp.join(out_dir, 'depth_training.png')
    plot(rows, png, threshold)
    print(md)
    print(f'wrote {csv_path}, {png}', flush=True)


def main(argv=None):
    args = parse_args(argv)
    import logging

    from mmengine.logging import MMLogger
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    torch.set_num_threads(args.threads)
    cfg = settings_of(args)
    if args.calibrate:
        calibrate(cfg, cfg['depths'], cfg['variants'])
        return []
    plan = plan_runs(cfg, args.deep_seeds)
    csv_path, rows, done = resume(args.out_dir, cfg)
    run_plan(plan, done, cfg, csv_path, rows)
    report(rows, plan, args.out_dir, args.loss_threshold, csv_path)
    return rows


if __name__ == '__main__':
    main()
