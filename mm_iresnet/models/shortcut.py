"""Projection shortcuts: where a stage changes resolution or width.

This module is the home of the third iResNet idea, the **improved projection
shortcut**. ResNet projects with a strided 1x1 convolution, which reads only
one position in four (spatially) and drops the rest. iResNet lets a 3x3
max-pool with the stage's stride pick the strongest activation of each
neighbourhood, then projects the width with a stride-1 1x1 convolution and a
norm. The module indices (``0`` pool, ``1`` conv, ``2`` norm) are those of the
official iResNet checkpoints.
"""
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn
from mmcv.cnn import build_conv_layer, build_norm_layer

__all__ = ['PROJECTIONS', 'SHORTCUTS', 'build_projection', 'build_shortcut',
           'expand_to_dim']

#: 'maxpool': iResNet's improved projection (MaxPool 3x3/s -> conv1x1 -> norm);
#: 'conv': ResNet's strided 1x1 conv -> norm;
#: 'avgpool': ResNet-D ("avg_down"): AvgPool s/s -> conv1x1 -> norm.
PROJECTIONS = ('maxpool', 'conv', 'avgpool')


def expand_to_dim(value: Union[int, Sequence[int]], dim: int,
                  temporal: int = 1):
    """Turn a spatial size into the argument a ``dim``-D layer takes.

    2D layers get ``value`` itself; 3D layers get ``(temporal, value, value)``.
    """
    if dim == 2:
        return value
    if dim == 3:
        return (temporal, value, value)
    raise ValueError(f'dim must be 2 or 3, got {dim}')


def build_projection(in_channels: int,
                     out_channels: int,
                     stride: int = 1,
                     temporal_stride: int = 1,
                     projection: str = 'maxpool',
                     dim: int = 2,
                     conv_cfg: Optional[dict] = None,
                     norm_cfg: dict = dict(type='BN')) -> Optional[nn.Module]:
    """Build the shortcut of a block that changes resolution and/or width.

    Args:
        in_channels / out_channels (int): widths before and after the block.
        stride (int): spatial stride of the block.
        temporal_stride (int): temporal stride (3D only).
        projection (str): one of :data:`PROJECTIONS`.
        dim (int): 2 for images, 3 for clips.
        conv_cfg / norm_cfg (dict): mmcv layer configs.

    Returns:
        ``None`` for an identity shortcut, otherwise an ``nn.Sequential``.
        With ``'maxpool'``: pool only when only the resolution changes,
        conv + norm only when only the width changes.
    """
    if projection not in PROJECTIONS:
        raise ValueError(f'unknown projection {projection!r}; valid: '
                         f'{", ".join(PROJECTIONS)}')
    strided = stride != 1 or temporal_stride != 1
    widen = in_channels != out_channels
    if not strided and not widen:
        return None
    layers = []
    conv_stride = 1
    if strided and projection == 'maxpool':
        pool = nn.MaxPool2d if dim == 2 else nn.MaxPool3d
        layers.append(
            pool(
                kernel_size=expand_to_dim(3, dim, 3 if temporal_stride > 1
                                          else 1),
                stride=expand_to_dim(stride, dim, temporal_stride),
                padding=expand_to_dim(1, dim, 1 if temporal_stride > 1
                                      else 0)))
    elif strided and projection == 'avgpool':
        pool = nn.AvgPool2d if dim == 2 else nn.AvgPool3d
        window = expand_to_dim(stride, dim, temporal_stride)
        layers.append(
            pool(kernel_size=window, stride=window, ceil_mode=True,
                 count_include_pad=False))
    elif strided:
        conv_stride = expand_to_dim(stride, dim, temporal_stride)
    if widen or conv_stride != 1:
        conv_cfg = conv_cfg or dict(type=f'Conv{dim}d')
        layers.append(
            build_conv_layer(conv_cfg, in_channels, out_channels,
                             kernel_size=1, stride=conv_stride, bias=False))
        layers.append(build_norm_layer(norm_cfg, out_channels)[1])
    return nn.Sequential(*layers)


# ---------------------------------------------------------------------------
# Identity-shortcut variants of He et al. 2016 ("Identity Mappings in Deep
# Residual Networks", Fig. 2). Each combines the block input ``x``, its
# shortcut value and the residual branch's output; they apply to the blocks
# whose shortcut is the identity (projection blocks keep their projection).
class ScaledShortcut(nn.Module):
    """Constant scaling: ``shortcut_scale * x + branch_scale * F(x)``."""

    def __init__(self, channels: int, dim: int, shortcut_scale: float = 0.5,
                 branch_scale: float = 1.0):
        super().__init__()
        self.shortcut_scale = shortcut_scale
        self.branch_scale = branch_scale

    def forward(self, x, identity, residual):
        return self.shortcut_scale * identity + self.branch_scale * residual


class GatedShortcut(nn.Module):
    """Gating with ``g = sigmoid(conv1x1(x))``: exclusive
    (``g * F(x) + (1 - g) * x``) or shortcut-only (``F(x) + (1 - g) * x``).
    ``gate_bias`` initialises the gate's bias (negative: towards the
    shortcut for exclusive gating)."""

    def __init__(self, channels: int, dim: int, exclusive: bool = True,
                 gate_bias: float = 0.0):
        super().__init__()
        conv = nn.Conv2d if dim == 2 else nn.Conv3d
        self.exclusive = exclusive
        self.gate = conv(channels, channels, kernel_size=1, bias=True)
        nn.init.constant_(self.gate.bias, gate_bias)

    def forward(self, x, identity, residual):
        g = torch.sigmoid(self.gate(x))
        branch = g * residual if self.exclusive else residual
        return branch + (1 - g) * identity


class ConvShortcut(nn.Module):
    """1x1 conv shortcut on every block: ``F(x) + conv1x1(x)``."""

    def __init__(self, channels: int, dim: int):
        super().__init__()
        conv = nn.Conv2d if dim == 2 else nn.Conv3d
        self.conv = conv(channels, channels, kernel_size=1, bias=False)

    def forward(self, x, identity, residual):
        return residual + self.conv(identity)


class DropoutShortcut(nn.Module):
    """Dropout on the shortcut: ``F(x) + dropout(x)`` (training only)."""

    def __init__(self, channels: int, dim: int, p: float = 0.5):
        super().__init__()
        self.dropout = nn.Dropout(p)

    def forward(self, x, identity, residual):
        return residual + self.dropout(identity)


#: shortcut type -> (module, fixed keyword arguments)
SHORTCUTS = {
    'identity': None,
    'scale': (ScaledShortcut, {}),
    'exclusive_gate': (GatedShortcut, dict(exclusive=True)),
    'shortcut_gate': (GatedShortcut, dict(exclusive=False)),
    'conv': (ConvShortcut, {}),
    'dropout': (DropoutShortcut, {}),
}


def build_shortcut(cfg: Optional[dict], channels: int,
                   dim: int = 2) -> Optional[nn.Module]:
    """The combining module for ``cfg = dict(type=..., **kwargs)`` (``None``
    or type 'identity': plain addition)."""
    if cfg is None:
        return None
    cfg = dict(cfg)
    kind = cfg.pop('type', None)
    if kind not in SHORTCUTS:
        raise ValueError(f'unknown shortcut type {kind!r}; valid: '
                         f'{", ".join(SHORTCUTS)}')
    if SHORTCUTS[kind] is None:
        if cfg:
            raise ValueError(f'identity shortcut takes no arguments: {cfg}')
        return None
    module, fixed = SHORTCUTS[kind]
    return module(channels, dim, **fixed, **cfg)
