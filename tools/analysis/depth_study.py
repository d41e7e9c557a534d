"""Depth study: does signal and gradient survive extreme depth?

For chosen family variants and depths, at initialisation (train mode, so BN
uses batch statistics as in training) this measures

* the forward activation scale: the standard deviation of each stage's
  output for a unit-normal input batch;
* the gradient reaching the stem: the norm of the stem conv's weight
  gradient for a cross-entropy loss through a global-pool + linear head,
  and its ratio to the norm at the last stage's last conv;

and optionally (``--train-steps N``) a short SGD run on generated shapes
images (the largest-shape class of the shapes demo set), recording the loss.
ImageNet-style networks use the official depths (50 ... 1001); CIFAR-style
ones (``--cifar``) are 3-stage 6n+2 (basic) / 9n+2 (bottleneck) networks with
a 3x3 stem, up to thousands of layers. Widths are reduced by ``--width`` to
fit a CPU. Writes a CSV and PNG plots into ``--out-dir``.

    python tools/analysis/depth_study.py --depths 50 101 200 404 1001
    python tools/analysis/depth_study.py --cifar --depths 110 1202 3002
"""
import argparse
import csv
import os
import os.path as osp
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from mm_iresnet.models import PRESETS, IResNet

VARIANTS = {
    'iresnet': PRESETS['IResNet'],  # ResStage as released (checkpoints)
    'iresnet_paper': dict(PRESETS['IResNet'], ordering='resstage_paper'),
    'resnet_v1': PRESETS['ResNetV1'],
    'preact': PRESETS['PreActResNet'],
    'resstage': PRESETS['ResStageNet'],
}


def cifar_arch(depth: int) -> dict:
    """6n+2 basic or 9n+2 bottleneck 3-stage network of ``depth`` layers."""
    if (depth - 2) % 9 == 0 and depth >= 164:
        n, block = (depth - 2) // 9, 'bottleneck'
    elif (depth - 2) % 6 == 0:
        n, block = (depth - 2) // 6, 'basic'
    else:
        raise ValueError(f'CIFAR depth {depth} is neither 6n+2 nor 9n+2')
    return dict(
        depth=None,
        block=block,
        stage_blocks=(n, n, n),
        num_stages=3,
        strides=(1, 2, 2),
        dilations=(1, 1, 1),
        out_indices=(0, 1, 2),
        cifar_stem=True)


def build(variant: str, depth: int, cifar: bool, width: int) -> IResNet:
    arch = cifar_arch(depth) if cifar else dict(depth=depth)
    kwargs = dict(VARIANTS[variant])
    if cifar:  # the CIFAR stem has no pool in any variant
        kwargs['stem_pool'] = False
    return IResNet(
        base_channels=width,
        norm_eval=False,
        zero_init_residual=False,
        **arch,
        **kwargs)


def measure(model: IResNet, size: int, batch: int, classes: int = 10):
    """Activation std per stage and gradient norms at init."""
    torch.manual_seed(0)
    model.init_weights()
    model.train()
    head = nn.Linear(model.stage_channels[-1], classes)
    x = torch.randn(batch, 3, size, size)
    labels = torch.randint(0, classes, (batch, ))
    outs = model(x)
    logits = head(F.adaptive_avg_pool2d(outs[-1], 1).flatten(1))
    F.cross_entropy(logits, labels).backward()
    stem = model.stem[0] if model.deep_stem else model.conv1
    last = getattr(model, model.res_layers[-1])[-1]
    last_conv = getattr(last, f'conv{last.num_convs}')
    stem_grad = stem.weight.grad.norm().item()
    last_grad = last_conv.weight.grad.norm().item()
    return dict(
        act_std=[o.detach().std().item() for o in outs],
        stem_grad=stem_grad,
        last_grad=last_grad,
        grad_ratio=stem_grad / max(last_grad, 1e-30))


def shapes_batch(rng_seed: int, batch: int, size: int):
    """Images of the shapes set labelled by the kind of their first shape."""
    import numpy as np

    from mm_iresnet.datasets.shapes import draw_shapes_image
    images, labels = [], []
    for i in range(batch):
        img, instances = draw_shapes_image(rng_seed + i, size, 1)
        images.append(img)
        labels.append(instances[0][0] if instances else 0)
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()
    return (x - 127.5) / 64, torch.tensor(labels)


def short_training(model: IResNet, steps: int, size: int, batch: int):
    torch.manual_seed(0)
    model.init_weights()
    model.train()
    head = nn.Linear(model.stage_channels[-1], 4)
    params = list(model.parameters()) + list(head.parameters())
    optim = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=1e-4)
    losses = []
    for step in range(steps):
        x, y = shapes_batch(step * batch, batch, size)
        logits = head(F.adaptive_avg_pool2d(model(x)[-1], 1).flatten(1))
        loss = F.cross_entropy(logits, y)
        optim.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        optim.step()
        losses.append(loss.item() if torch.isfinite(loss) else float('nan'))
    return losses


def plot(rows, out_dir, tag):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    variants = sorted({r['variant'] for r in rows})
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for v in variants:
        rs = sorted((r for r in rows if r['variant'] == v),
                    key=lambda r: r['depth'])
        depths = [r['depth'] for r in rs]
        axes[0].plot(depths, [r['act_std_max'] for r in rs], 'o-', label=v)
        axes[1].plot(depths, [r['stem_grad'] for r in rs], 'o-', label=v)
    axes[0].set(
        xscale='log',
        yscale='log',
        xlabel='depth',
        title='largest std of a stage output at init')
    axes[1].set(
        xscale='log',
        yscale='log',
        xlabel='depth',
        title='gradient norm at the stem conv at init')
    for ax in axes:
        ax.grid(alpha=.3)
        ax.legend()
    fig.tight_layout()
    paths = [osp.join(out_dir, f'depth_study_{tag}.png')]
    fig.savefig(paths[0], dpi=100)
    plt.close(fig)
    trained = [r for r in rows if r.get('losses')]
    if trained:
        fig, ax = plt.subplots(figsize=(6, 4))
        for r in trained:
            ax.plot(r['losses'], label=f"{r['variant']}-{r['depth']}")
        ax.set(xlabel='step', ylabel='loss', title='short training')
        ax.legend(fontsize=7)
        fig.tight_layout()
        paths.append(osp.join(out_dir, f'depth_study_{tag}_train.png'))
        fig.savefig(paths[-1], dpi=100)
        plt.close(fig)
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--variants',
        nargs='+',
        default=['iresnet', 'resnet_v1'],
        choices=sorted(VARIANTS))
    parser.add_argument(
        '--depths', nargs='+', type=int, default=[50, 101, 200, 404, 1001])
    parser.add_argument(
        '--cifar',
        action='store_true',
        help='3-stage 6n+2 / 9n+2 networks, 32x32 inputs')
    parser.add_argument(
        '--width',
        type=int,
        default=None,
        help='base width (default 16 ImageNet, 16 CIFAR)')
    parser.add_argument(
        '--size',
        type=int,
        default=None,
        help='input size (default 64 ImageNet, 32 CIFAR)')
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--train-steps', type=int, default=0)
    parser.add_argument('--out-dir', default='work_dirs/depth_study')
    args = parser.parse_args(argv)
    import logging

    from mmengine.logging import MMLogger
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    size = args.size or (32 if args.cifar else 64)
    width = args.width or 16
    os.makedirs(args.out_dir, exist_ok=True)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    rows = []
    for depth in args.depths:
        for variant in args.variants:
            start = time.time()
            model = build(variant, depth, args.cifar, width)
            result = measure(model, size, args.batch)
            row = dict(
                variant=variant,
                depth=depth,
                act_std_stages=' '.join('%.4g' % v for v in result['act_std']),
                act_std_max=max(result['act_std']),
                stem_grad=result['stem_grad'],
                last_grad=result['last_grad'],
                grad_ratio=result['grad_ratio'])
            if args.train_steps:
                row['losses'] = short_training(model, args.train_steps, size,
                                               args.batch)
                row['final_loss'] = row['losses'][-1]
            rows.append(row)
            print(
                f'[{time.time() - start:5.1f}s] {variant:>10} depth '
                f'{depth:5d}: stage std '
                f"{['%.3g' % s for s in result['act_std']]}"
                f", stem grad {row['stem_grad']:.3g} (x{row['grad_ratio']:.3g}"
                ' of the last conv)' +
                (f', loss after {args.train_steps} steps '
                 f"{row['final_loss']:.3f}" if args.train_steps else ''),
                flush=True)
            del model
    tag = 'cifar' if args.cifar else 'imagenet'
    csv_path = osp.join(args.out_dir, f'depth_study_{tag}.csv')
    fields = [k for k in rows[0] if k != 'losses']
    with open(csv_path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows({k: r[k] for k in fields} for r in rows)
    for path in [csv_path] + plot(rows, args.out_dir, tag):
        print(f'wrote {path}')
    return rows


if __name__ == '__main__':
    main()
