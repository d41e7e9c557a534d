"""The depth study's networks and training runs: the classifier around a
CIFAR-style backbone of the family, the learning-rate schedule, evaluation,
one training run, and step timing (``--calibrate``)."""
import math
import time
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from depth_study import VARIANTS, build, cifar_arch
from depth_task import NUM_CLASSES

#: the four members compared (names of depth_study.VARIANTS)
STUDY_VARIANTS = ('iresnet', 'iresnet_paper', 'resnet_v1', 'preact')


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
        feat = self.backbone(
            x.contiguous(memory_format=torch.channels_last))[-1]
        pooled = F.adaptive_avg_pool2d(self.final(feat), 1).flatten(1)
        return self.head(pooled), feat


def main_path_relus(variant: str, depth: int) -> List[int]:
    """ReLUs on the main path (after an addition) per stage, read from the
    layout table."""
    from mm_iresnet.models.layouts import get_layout
    ordering = VARIANTS[variant]['ordering']
    return [
        sum(get_layout(ordering, i, n).post_act for i in range(n))
        for n in cifar_arch(depth)['stage_blocks']
    ]


def lr_at(step: int, cfg: dict) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to 0."""
    if step < cfg['warmup']:
        return cfg['lr'] * (step + 1) / cfg['warmup']
    progress = (step - cfg['warmup']) / max(1, cfg['steps'] - cfg['warmup'])
    return cfg['lr'] * 0.5 * (1 + math.cos(math.pi * progress))


@torch.no_grad()
def evaluate(model: Classifier,
             x: torch.Tensor,
             y: torch.Tensor,
             batch: int = 100) -> Tuple[float, float, float]:
    """Held-out loss, accuracy and last-stage std (eval mode)."""
    model.eval()
    loss = correct = 0.
    s1 = s2 = n = 0.
    for i in range(0, len(x), batch):
        logits, feat = model(x[i:i + batch])
        loss += F.cross_entropy(logits, y[i:i + batch], reduction='sum').item()
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
    optim = torch.optim.SGD(
        model.parameters(),
        lr=cfg['lr'],
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
            emit(
                dict(
                    variant=variant,
                    depth=depth,
                    seed=seed,
                    step=done,
                    train_loss=sum(losses) / len(losses),
                    heldout_loss=held_loss,
                    heldout_acc=held_acc,
                    sec_per_step=seconds / len(losses),
                    finite=int(finite),
                    lr=lr,
                    last_stage_std=std))
            losses, seconds = [], 0.
            if not finite:
                return


def calibrate(cfg: dict,
              depths: Sequence[int],
              variants: Sequence[str],
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
            print(
                f'{variant:>13} depth {depth:5d}: '
                f'{min(times[1:]):.3f} s/step (batch {cfg["batch"]}), '
                f'eval {fwd / cfg["batch"] * 1000:.2f} ms/image',
                flush=True)
