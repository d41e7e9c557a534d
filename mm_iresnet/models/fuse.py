"""Folding a BatchNorm that directly follows a conv into that conv."""
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ['can_fold', 'fold_bn_into_conv', 'fold_named', 'fold_sequential']


def can_fold(conv: nn.Module, norm: nn.Module) -> bool:
    """A plain (grouped, dilated, 2D or 3D) conv followed by a BN with
    running statistics."""
    return isinstance(conv, (nn.Conv2d, nn.Conv3d)) and \
        isinstance(norm, _BatchNorm) and norm.track_running_stats and \
        norm.running_mean is not None


@torch.no_grad()
def fold_bn_into_conv(conv: nn.Module, norm: _BatchNorm) -> nn.Module:
    """Return ``conv`` with ``norm`` (in its eval form) folded in: the conv's
    weight is scaled per output channel and it gains a bias. ``conv`` is
    changed in place (its class is kept, e.g. ConvWS, replicate padding)."""
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps) \
        if norm.affine else 1 / torch.sqrt(norm.running_var + norm.eps)
    shift = (norm.bias if norm.affine else 0) - norm.running_mean * scale
    bias = conv.bias if conv.bias is not None else \
        torch.zeros_like(norm.running_mean)
    conv.weight.mul_(scale.reshape(-1, *([1] * (conv.weight.dim() - 1))))
    conv.bias = nn.Parameter(bias * scale + shift)
    return conv


def fold_named(parent: nn.Module, conv_name: str, norm_name: str) -> bool:
    """Fold ``parent``'s child ``norm_name`` into its child ``conv_name``
    when it can be, replacing the norm by ``nn.Identity``."""
    conv, norm = parent._modules[conv_name], parent._modules[norm_name]
    if not can_fold(conv, norm):
        return False
    fold_bn_into_conv(conv, norm)
    parent._modules[norm_name] = nn.Identity()
    return True


def fold_sequential(seq: nn.Sequential, prefix: str) -> list:
    """Fold every BN that directly follows a conv inside ``seq``; returns the
    folded names under ``prefix``."""
    return [
        f'{prefix}.{k + 1}' for k in range(len(seq) - 1)
        if fold_named(seq, str(k), str(k + 1))
    ]
