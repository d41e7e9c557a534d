"""How a block merges its residual branch with its identity shortcut.

The variants of He et al. 2016 ("Identity Mappings in Deep Residual
Networks", Fig. 2). Each module takes the block input ``x``, the shortcut
value ``identity`` and the branch output ``residual`` and returns their merge;
plain addition (``None``) is the default. They apply to blocks whose shortcut
is the identity: a block with a projection (:mod:`.projection`) adds.
"""
from typing import Optional

import torch
import torch.nn as nn

__all__ = ['MERGES', 'build_merge']


def _conv1x1(channels: int, dim: int, bias: bool) -> nn.Module:
    conv = nn.Conv2d if dim == 2 else nn.Conv3d
    return conv(channels, channels, kernel_size=1, bias=bias)


class ScaledMerge(nn.Module):
    """Constant scaling: ``shortcut_scale * x + branch_scale * F(x)``."""

    def __init__(self,
                 channels: int,
                 dim: int,
                 shortcut_scale: float = 0.5,
                 branch_scale: float = 1.0):
        super().__init__()
        self.shortcut_scale = shortcut_scale
        self.branch_scale = branch_scale

    def forward(self, x, identity, residual):
        return self.shortcut_scale * identity + self.branch_scale * residual


class GatedMerge(nn.Module):
    """Gating with ``g = sigmoid(conv1x1(x))``: exclusive
    (``g * F(x) + (1 - g) * x``) or shortcut-only (``F(x) + (1 - g) * x``).
    ``gate_bias`` initialises the gate's bias (negative: towards the
    shortcut for exclusive gating)."""

    def __init__(self,
                 channels: int,
                 dim: int,
                 exclusive: bool = True,
                 gate_bias: float = 0.0):
        super().__init__()
        self.exclusive = exclusive
        self.gate = _conv1x1(channels, dim, bias=True)
        nn.init.constant_(self.gate.bias, gate_bias)

    def forward(self, x, identity, residual):
        g = torch.sigmoid(self.gate(x))
        branch = g * residual if self.exclusive else residual
        return branch + (1 - g) * identity


class ConvShortcutMerge(nn.Module):
    """A 1x1 conv on every identity shortcut: ``F(x) + conv1x1(x)``."""

    def __init__(self, channels: int, dim: int):
        super().__init__()
        self.conv = _conv1x1(channels, dim, bias=False)

    def forward(self, x, identity, residual):
        return residual + self.conv(identity)


class DropoutShortcutMerge(nn.Module):
    """Dropout on the shortcut: ``F(x) + dropout(x)`` (training only)."""

    def __init__(self, channels: int, dim: int, p: float = 0.5):
        super().__init__()
        self.dropout = nn.Dropout(p)

    def forward(self, x, identity, residual):
        return residual + self.dropout(identity)


#: merge type -> (module, fixed keyword arguments); 'add' is plain addition
MERGES = {
    'add': None,
    'scale': (ScaledMerge, {}),
    'exclusive_gate': (GatedMerge, dict(exclusive=True)),
    'shortcut_gate': (GatedMerge, dict(exclusive=False)),
    'conv': (ConvShortcutMerge, {}),
    'dropout': (DropoutShortcutMerge, {}),
}


def build_merge(cfg: Optional[dict],
                channels: int,
                dim: int = 2) -> Optional[nn.Module]:
    """The merging module for ``cfg = dict(type=..., **kwargs)``; ``None``
    for plain addition (``cfg`` None or type 'add')."""
    if cfg is None:
        return None
    cfg = dict(cfg)
    kind = cfg.pop('type', None)
    if kind not in MERGES:
        raise ValueError(f'unknown merge type {kind!r}; valid: '
                         f'{", ".join(MERGES)}')
    if MERGES[kind] is None:
        if cfg:
            raise ValueError(f'plain addition takes no arguments: {cfg}')
        return None
    module, fixed = MERGES[kind]
    return module(channels, dim, **fixed, **cfg)
