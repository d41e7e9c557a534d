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
import json
import math
import os
import os.path as osp
import sys
import time
from typing import Dict, List, Sequence, Tuple

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from depth_study import VARIANTS, build, cifar_arch  # noqa: E402

#: the four members compared (names of depth_study.VARIANTS)
STUDY_VARIANTS = ('iresnet', 'iresnet_paper', 'resnet_v1', 'preact')
COLUMNS = ('variant', 'depth', 'seed', 'step', 'train_loss', 'heldout_loss',
           'heldout_acc', 'sec_per_step', 'finite', 'lr', 'last_stage_std')
#: the settings a CSV was made with; resuming with others is refused
SETTING_KEYS = ('width', 'batch', 'steps', 'eval_every', 'lr', 'momentum',
                'weight_decay', 'warmup', 'train_size', 'heldout_size',
                'data_seed', 'task', 'objects', 'crop')
NUM_CLASSES = 4
#: the full study (calibrated to <= 60 minutes on 2 shared CPU cores)
FULL = dict(variants=STUDY_VARIANTS, depths=(20, 110, 1202), seeds=(0, 1),
            width=4, batch=16, steps=100, eval_every=10, lr=0.05,
            momentum=0.9, weight_decay=1e-4, warmup=10, train_size=1600,
            heldout_size=120, data_seed=0, task='stripes', objects=2, crop=1)
#: seconds-long version for the tests
SHORT = dict(FULL, depths=(8, 14), seeds=(0, ), batch=8, steps=4,
             eval_every=2, warmup=1, train_size=64, heldout_size=32)


# ----------------------------------------------------------------------
# data
def largest_shape_image(seed: int, objects: int = 3, crop: bool = True,
                        size: int = 32, draw_size: int = 64
                        ) -> Tuple[np.ndarray, int]:
    """A ``size`` x ``size`` BGR image of the shapes set (1 to ``objects``
    shapes drawn at ``draw_size``) and the kind of its largest shape (-1 if
    nothing was drawn).

    ``crop``: the ``size`` window around the largest shape (shifted by up to
    a quarter of the window, kept inside the image), where other shapes may
    show in part; otherwise the whole image, area-downsampled."""
    import cv2

    from mm_iresnet.datasets.shapes import draw_shapes_image
    img, instances = draw_shapes_image(seed, draw_size, objects)
    if not instances:
        return img[:size, :size], -1
    kind, mask = max(instances, key=lambda inst: inst[1].sum())
    if not crop:
        return cv2.resize(img, (size, size),
                          interpolation=cv2.INTER_AREA), kind
    ys, xs = np.nonzero(mask)
    shift = np.random.RandomState(seed).randint(-size // 4, size // 4 + 1,
                                                size=2)
    top, left = (int(np.clip(round(c.mean()) - size // 2 + d, 0,
                             draw_size - size))
                 for c, d in ((ys, shift[0]), (xs, shift[1])))
    return np.ascontiguousarray(img[top:top + size, left:left + size]), kind


def stripes_image(seed: int, objects: int = 2, size: int = 32
                  ) -> Tuple[np.ndarray, int]:
    """A ``size`` x ``size`` BGR image of 1 to ``objects`` discs filled with
    stripes (sinusoidal gratings of random frequency, phase, contrast and
    colour) on the shapes set's textured background, and the orientation
    class (0, 45, 90 or 135 degrees, +- 10) of the **largest** disc.

    Discs never share an orientation class, and a smaller one is at most
    0.8 times as wide as the largest."""
    from mm_iresnet.datasets.shapes import _background
    rng = np.random.RandomState(seed)
    img = _background(rng, size)
    count = rng.randint(1, objects + 1)
    kinds = rng.permutation(NUM_CLASSES)[:count]
    radii = [rng.uniform(7, 11)]
    radii += [radii[0] * rng.uniform(0.45, 0.8) for _ in kinds[1:]]
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    for kind, radius in zip(kinds[::-1], radii[::-1]):  # largest on top
        theta = np.deg2rad(45 * kind + rng.uniform(-10, 10))
        freq = rng.uniform(0.15, 0.3)  # cycles per pixel
        wave = np.cos(2 * np.pi * freq * (xx * np.cos(theta) +
                                          yy * np.sin(theta)) +
                      rng.uniform(0, 2 * np.pi))
        cy, cx = rng.uniform(radius * 0.6, size - radius * 0.6, size=2)
        disc = np.clip(radius + 0.5 - np.hypot(yy - cy, xx - cx), 0, 1)
        mean = rng.uniform(60, 200, size=3)
        amp = rng.uniform(25, 70) * rng.choice([-1, 1], size=3) * \
            rng.uniform(0.5, 1, size=3)
        patch = mean + wave[..., None] * amp
        img = img * (1 - disc[..., None]) + patch * disc[..., None]
    img += rng.normal(0, 8, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), int(kinds[0])


def make_task(num: int, split: str, data_seed: int = 0, objects: int = 2,
              crop: bool = True, task: str = 'stripes'
              ) -> Tuple[torch.Tensor, torch.Tensor]:
    """``num`` balanced images (N, 3, 32, 32 float, normalised) and labels
    for ``split`` 'train' or 'heldout' of ``task`` 'stripes'
    (:func:`stripes_image`) or 'shapes' (:func:`largest_shape_image`); the
    two splits draw from disjoint seeds."""
    if num % NUM_CLASSES:
        raise ValueError(f'{num} images cannot be split evenly into '
                         f'{NUM_CLASSES} classes')
    if task not in ('stripes', 'shapes'):
        raise ValueError(f"task must be 'stripes' or 'shapes', got {task!r}")
    if split not in ('train', 'heldout'):
        raise ValueError(f"split must be 'train' or 'heldout', got {split!r}")
    per_class = num // NUM_CLASSES
    base = data_seed * 10**7 + (0 if split == 'train' else 5 * 10**6)
    counts = [0] * NUM_CLASSES
    images, labels = [], []
    candidate = base
    while min(counts) < per_class:
        img, kind = largest_shape_image(candidate, objects, crop) \
            if task == 'shapes' else stripes_image(candidate, objects)
        candidate += 1
        if kind < 0 or counts[kind] >= per_class:
            continue
        counts[kind] += 1
        images.append(img)
        labels.append(kind)
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()
    return (x - 127.5) / 64, torch.tensor(labels)


# ----------------------------------------------------------------------
# model
class Classifier(nn.Module):
    """Backbone, then global average pooling and a linear layer.

    Pre-activation ResNet (He et al. 2016, v2) ends with BN + ReLU before
    the pooling; the package's ``preact`` backbone stops at the last addition,
    so the classifier adds them for it. Every other member already ends its
    last stage with BN (or ReLU after the addition)."""

    def __init__(self, variant: str, depth: int, width: int):
        super().__init__()
        self.backbone = build(variant, depth, True, width)
        channels = self.backbone.stage_channels[-1]
        self.final = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU()) \
            if VARIANTS[variant]['ordering'] == 'preact' else nn.Identity()
        self.head = nn.Linear(channels, NUM_CLASSES)

    def forward(self, x):
        # channels-last runs the narrow convs' backward several times faster
        # on CPU (oneDNN); the result is the same function
        feat = self.backbone(x.contiguous(
            memory_format=torch.channels_last))[-1]
        pooled = F.adaptive_avg_pool2d(self.final(feat), 1).flatten(1)
        return self.head(pooled), feat


def main_path_relus(variant: str, depth: int) -> List[int]:
    """ReLUs on the main path (after an addition) per stage, read from the
    layout table."""
    from mm_iresnet.models.layouts import get_layout
    ordering = VARIANTS[variant]['ordering']
    return [sum(get_layout(ordering, i, n).post_act for i in range(n))
            for n in cifar_arch(depth)['stage_blocks']]


def lr_at(step: int, cfg: dict) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to 0."""
    if step < cfg['warmup']:
        return cfg['lr'] * (step + 1) / cfg['warmup']
    progress = (step - cfg['warmup']) / max(1, cfg['steps'] - cfg['warmup'])
    return cfg['lr'] * 0.5 * (1 + math.cos(math.pi * progress))


@torch.no_grad()
def evaluate(model: Classifier, x: torch.Tensor, y: torch.Tensor,
             batch: int = 100) -> Tuple[float, float, float]:
    """Held-out loss, accuracy and last-stage std (eval mode)."""
    model.eval()
    loss = correct = 0.
    s1 = s2 = n = 0.
    for i in range(0, len(x), batch):
        logits, feat = model(x[i:i + batch])
        loss += F.cross_entropy(logits, y[i:i + batch],
                                reduction='sum').item()
        correct += (logits.argmax(1) == y[i:i + batch]).sum().item()
        feat = feat.double()
        s1 += feat.sum().item()
        s2 += (feat * feat).sum().item()
        n += feat.numel()
    model.train()
    mean = s1 / n
    std = math.sqrt(max(s2 / n - mean * mean, 0.)) if math.isfinite(s2) \
        else float('nan')
    return loss / len(x), correct / len(x), std


def train_run(variant: str, depth: int, seed: int, cfg: dict, data,
              emit) -> None:
    """Train one network; call ``emit(row)`` at every evaluation point."""
    (x_train, y_train), (x_held, y_held) = data
    torch.manual_seed(seed)
    model = Classifier(variant, depth, cfg['width'])
    model.backbone.init_weights()
    model.to(memory_format=torch.channels_last)
    model.train()
    optim = torch.optim.SGD(model.parameters(), lr=cfg['lr'],
                            momentum=cfg['momentum'],
                            weight_decay=cfg['weight_decay'])
    order = torch.Generator().manual_seed(seed)
    perm, cursor = torch.randperm(len(x_train), generator=order), 0
    losses, seconds = [], 0.
    for step in range(cfg['steps']):
        if cursor + cfg['batch'] > len(perm):
            perm, cursor = torch.randperm(len(x_train), generator=order), 0
        idx = perm[cursor:cursor + cfg['batch']]
        cursor += cfg['batch']
        lr = lr_at(step, cfg)
        for group in optim.param_groups:
            group['lr'] = lr
        start = time.perf_counter()
        logits, _ = model(x_train[idx])
        loss = F.cross_entropy(logits, y_train[idx])
        finite = bool(torch.isfinite(loss))
        if finite:
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
        seconds += time.perf_counter() - start
        losses.append(loss.item())
        done = step + 1
        if not finite or done % cfg['eval_every'] == 0 or \
                done == cfg['steps']:
            held_loss, held_acc, std = evaluate(model, x_held, y_held) \
                if finite else (float('nan'), float('nan'), float('nan'))
            emit(dict(variant=variant, depth=depth, seed=seed, step=done,
                      train_loss=sum(losses) / len(losses),
                      heldout_loss=held_loss, heldout_acc=held_acc,
                      sec_per_step=seconds / len(losses), finite=int(finite),
                      lr=lr, last_stage_std=std))
            losses, seconds = [], 0.
            if not finite:
                return


# ----------------------------------------------------------------------
# CSV, resume
def read_rows(path: str) -> List[dict]:
    if not osp.exists(path):
        return []
    with open(path, newline='') as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k in ('depth', 'seed', 'step', 'finite'):
            r[k] = int(r[k])
        for k in COLUMNS[4:]:
            if k not in ('finite', ):
                r[k] = float(r[k])
    return rows


def run_key(row: dict) -> Tuple[str, int, int]:
    return row['variant'], int(row['depth']), int(row['seed'])


def finished_runs(rows: Sequence[dict], steps: int) -> set:
    """Runs that reached the last step or stopped on a non-finite loss."""
    return {run_key(r) for r in rows if r['step'] == steps or not r['finite']}


def write_rows(path: str, rows: Sequence[dict]):
    with open(path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def check_settings(path: str, settings: dict, has_rows: bool):
    """Refuse to extend a CSV made with other settings."""
    if osp.exists(path):
        with open(path) as f:
            old = json.load(f)
        if old != settings:
            diff = {k: (old.get(k), settings.get(k))
                    for k in set(old) | set(settings)
                    if old.get(k) != settings.get(k)}
            raise ValueError(
                f'{path} records other settings than this run (old, new): '
                f'{diff}; use another --out-dir or delete the CSV to start '
                'over')
    elif has_rows:
        raise ValueError(f'{path} is missing: cannot tell which settings the '
                         'existing CSV was made with')
    with open(path, 'w') as f:
        json.dump(settings, f, indent=1, sort_keys=True)


# ----------------------------------------------------------------------
# report
def summarise(rows: Sequence[dict], threshold: float,
              relus: Dict[Tuple[str, int], List[int]]) -> List[dict]:
    """One line per run: first step with train loss <= threshold, whether it
    diverged, final held-out accuracy, time per step, end activation std."""
    out = []
    for key in sorted({run_key(r) for r in rows},
                      key=lambda k: (k[1], STUDY_VARIANTS.index(k[0])
                                     if k[0] in STUDY_VARIANTS else 99, k[2])):
        rs = sorted((r for r in rows if run_key(r) == key),
                    key=lambda r: r['step'])
        reached = [r['step'] for r in rs
                   if r['finite'] and r['train_loss'] <= threshold]
        last = rs[-1]
        good = [r for r in rs if r['finite']]
        out.append(dict(
            variant=key[0], depth=key[1], seed=key[2],
            step_to_threshold=reached[0] if reached else None,
            diverged_at=None if last['finite'] else last['step'],
            final_step=last['step'],
            final_train_loss=good[-1]['train_loss'] if good else None,
            final_acc=good[-1]['heldout_acc'] if good else None,
            best_acc=max(r['heldout_acc'] for r in good) if good else None,
            sec_per_step=sum(r['sec_per_step'] for r in rs) / len(rs),
            end_std=good[-1]['last_stage_std'] if good else None,
            relus=relus.get(key[:2])))
    return out


def summary_markdown(summary: Sequence[dict], threshold: float) -> str:
    def fmt(v, spec):
        return '—' if v is None else format(v, spec)

    lines = [
        f'| variant | depth | seed | first step with train loss ≤ '
        f'{threshold:g} | diverged | final train loss | final held-out acc '
        '| best held-out acc | s/step | last-stage std at end | '
        'main-path ReLUs per stage |',
        '|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---|']
    for s in summary:
        reached = s['step_to_threshold'] or 'not reached'
        diverged = f"at step {s['diverged_at']}" if s['diverged_at'] else 'no'
        lines.append(
            f"| {s['variant']} | {s['depth']} | {s['seed']} | {reached} | "
            f"{diverged} | "
            f"{fmt(s['final_train_loss'], '.3f')} | "
            f"{fmt(s['final_acc'], '.3f')} | {fmt(s['best_acc'], '.3f')} | "
            f"{s['sec_per_step']:.3f} | {fmt(s['end_std'], '.3g')} | "
            f"{'/'.join(map(str, s['relus'])) if s['relus'] else '—'} |")
    return '\n'.join(lines) + '\n'


def plot(rows: Sequence[dict], path: str, threshold: float):
    """Train loss, held-out accuracy and last-stage std against step: one
    column per depth, one colour per variant, one line style per seed."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    depths = sorted({r['depth'] for r in rows})
    variants = [v for v in STUDY_VARIANTS if v in {r['variant']
                                                   for r in rows}]
    colours = dict(zip(STUDY_VARIANTS, ('C0', 'C2', 'C3', 'C1')))
    styles = ['-', '--', ':', '-.']
    fig, axes = plt.subplots(3, len(depths), squeeze=False,
                             figsize=(4.2 * len(depths), 9), sharey='row')
    loss_top = 2.5
    for j, depth in enumerate(depths):
        for v in variants:
            for seed in sorted({r['seed'] for r in rows
                                if r['variant'] == v and r['depth'] == depth}):
                rs = sorted((r for r in rows if r['variant'] == v and
                             r['depth'] == depth and r['seed'] == seed),
                            key=lambda r: r['step'])
                good = [r for r in rs if r['finite']]
                steps = [r['step'] for r in good]
                kw = dict(color=colours.get(v), ls=styles[seed % 4], lw=1.4)
                axes[0, j].plot(steps, [min(r['train_loss'], loss_top)
                                        for r in good], **kw)
                axes[1, j].plot(steps, [r['heldout_acc'] for r in good], **kw)
                axes[2, j].plot(steps, [r['last_stage_std'] for r in good],
                                **kw)
                for r in rs:
                    if not r['finite']:
                        axes[0, j].plot(r['step'], loss_top, 'x', ms=10,
                                        color=colours.get(v))
        axes[0, j].set_title(f'depth {depth} ({(depth - 2) // 2} blocks)')
        axes[0, j].axhline(math.log(NUM_CLASSES), color='k', lw=.7,
                           alpha=.5)
        axes[0, j].axhline(threshold, color='k', lw=.7, ls=':', alpha=.5)
        axes[1, j].axhline(1 / NUM_CLASSES, color='k', lw=.7, alpha=.5)
        axes[2, j].set_yscale('log')
        axes[2, j].set_xlabel('step')
        for ax in axes[:, j]:
            ax.grid(alpha=.3)
    axes[0, 0].set_ylabel(f'train loss (clipped at {loss_top:g})\n'
                          'chance: line, threshold: dotted')
    axes[1, 0].set_ylabel('held-out accuracy\nchance: line')
    axes[2, 0].set_ylabel('std of the last stage output\n'
                          '(held-out, eval mode)')
    from matplotlib.lines import Line2D
    seeds = sorted({r['seed'] for r in rows})
    handles = [Line2D([], [], color=colours.get(v), lw=2, label=v)
               for v in variants]
    handles += [Line2D([], [], color='grey', ls=styles[s % 4],
                       label=f'seed {s}') for s in seeds]
    fig.legend(handles=handles, loc='lower center', fontsize=9,
               ncol=len(handles), frameon=False)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=80)
    plt.close(fig)


# ----------------------------------------------------------------------
def calibrate(cfg: dict, depths: Sequence[int], variants: Sequence[str],
              repeats: int = 3) -> None:
    """Print the wall time of one training step per variant and depth."""
    x = torch.randn(cfg['batch'], 3, 32, 32)
    y = torch.randint(0, NUM_CLASSES, (cfg['batch'], ))
    for depth in depths:
        for variant in variants:
            torch.manual_seed(0)
            model = Classifier(variant, depth, cfg['width'])
            model.backbone.init_weights()
            model.to(memory_format=torch.channels_last)
            optim = torch.optim.SGD(model.parameters(), lr=0.01)
            times = []
            for _ in range(repeats + 1):
                start = time.perf_counter()
                loss = F.cross_entropy(model(x)[0], y)
                optim.zero_grad()
                loss.backward()
                optim.step()
                times.append(time.perf_counter() - start)
            fwd = time.perf_counter()
            evaluate(model, x, y)
            fwd = time.perf_counter() - fwd
            print(f'{variant:>13} depth {depth:5d}: '
                  f'{min(times[1:]):.3f} s/step (batch {cfg["batch"]}), '
                  f'eval {fwd / cfg["batch"] * 1000:.2f} ms/image', flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--short', action='store_true',
                        help='seconds-long version (tests)')
    parser.add_argument('--variants', nargs='+', choices=STUDY_VARIANTS)
    parser.add_argument('--depths', nargs='+', type=int)
    parser.add_argument('--seeds', nargs='+', type=int)
    parser.add_argument('--deep-seeds', nargs='+', type=int,
                        help='seeds for the deepest depth (default --seeds)')
    for key in ('width', 'batch', 'steps', 'eval_every', 'warmup',
                'train_size', 'heldout_size', 'data_seed', 'objects',
                'crop'):
        parser.add_argument('--' + key.replace('_', '-'), type=int)
    for key in ('lr', 'momentum', 'weight_decay'):
        parser.add_argument('--' + key.replace('_', '-'), type=float)
    parser.add_argument('--task', choices=('stripes', 'shapes'))
    parser.add_argument('--loss-threshold', type=float, default=1.2,
                        help='report the first step whose train loss is at '
                        'or below this (chance: ln 4 = 1.386)')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--calibrate', action='store_true',
                        help='only time one step of each variant and depth')
    parser.add_argument('--out-dir', default='work_dirs/depth_training')
    args = parser.parse_args(argv)

    import logging

    from mmengine.logging import MMLogger
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    torch.set_num_threads(args.threads)
    cfg = dict(SHORT if args.short else FULL)
    for key in cfg:
        if getattr(args, key, None) is not None:
            cfg[key] = getattr(args, key)
    if cfg['eval_every'] < 1 or cfg['steps'] < 1 or cfg['batch'] < 2:
        raise ValueError('steps and eval_every must be >= 1, batch >= 2')
    for depth in cfg['depths']:
        cifar_arch(depth)  # a clear error for a depth that is not 6n+2
    if args.calibrate:
        calibrate(cfg, cfg['depths'], cfg['variants'])
        return []
    deepest = max(cfg['depths'])
    deep_seeds = args.deep_seeds or cfg['seeds']
    plan = [(v, d, s) for d in sorted(cfg['depths'])
            for s in (deep_seeds if d == deepest else cfg['seeds'])
            for v in cfg['variants']]
    # the deepest depth's seeds one after the other, so that a cut-off study
    # still has every variant at one seed
    plan.sort(key=lambda k: (k[1], k[2]))

    os.makedirs(args.out_dir, exist_ok=True)
    csv_path = osp.join(args.out_dir, 'depth_training.csv')
    settings = {k: cfg[k] for k in SETTING_KEYS}
    rows = read_rows(csv_path)
    check_settings(osp.join(args.out_dir, 'depth_training.json'), settings,
                   bool(rows))
    done = finished_runs(rows, cfg['steps'])
    partial = {run_key(r) for r in rows} - done
    if partial:
        print(f'dropping unfinished runs {sorted(partial)}', flush=True)
        rows = [r for r in rows if run_key(r) in done]
        write_rows(csv_path, rows)
    elif not rows:
        write_rows(csv_path, [])

    data = None
    study_start = time.time()
    for key in plan:
        if key in done:
            print(f'skip {key}: already in {csv_path}', flush=True)
            continue
        if data is None:
            start = time.time()
            data = (make_task(cfg['train_size'], 'train', cfg['data_seed'],
                              cfg['objects'], bool(cfg['crop']), cfg['task']),
                    make_task(cfg['heldout_size'], 'heldout',
                              cfg['data_seed'], cfg['objects'],
                              bool(cfg['crop']), cfg['task']))
            print(f'data: {cfg["train_size"]} train + {cfg["heldout_size"]} '
                  f'held-out images in {time.time() - start:.1f}s',
                  flush=True)
        start = time.time()

        def emit(row):
            rows.append(row)
            with open(csv_path, 'a', newline='') as f:
                csv.DictWriter(f, fieldnames=COLUMNS).writerow(row)

        train_run(*key, cfg, data, emit)
        last = rows[-1]
        print(f'[{time.time() - study_start:7.0f}s] {key[0]:>13} depth '
              f'{key[1]:5d} seed {key[2]}: step {last["step"]}, train loss '
              f'{last["train_loss"]:.3f}, held-out acc '
              f'{last["heldout_acc"]:.3f}, {last["sec_per_step"]:.3f} s/step'
              f', run {time.time() - start:.0f}s', flush=True)

    relus = {(v, d): main_path_relus(v, d) for v, d, _ in plan}
    summary = summarise(rows, args.loss_threshold, relus)
    md = summary_markdown(summary, args.loss_threshold)
    with open(osp.join(args.out_dir, 'depth_training_summary.md'), 'w') as f:
        f.write(md)
    png = osp.join(args.out_dir, 'depth_training.png')
    plot(rows, png, args.loss_threshold)
    print(md)
    print(f'wrote {csv_path}, {png}', flush=True)
    return rows


if __name__ == '__main__':
    main()
