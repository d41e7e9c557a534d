"""Projection shortcuts: where a block changes resolution or width.

This module is the home of the third iResNet idea, the **improved projection
shortcut**. ResNet projects with a strided 1x1 convolution, which reads only
one position in four (spatially) and drops the rest. iResNet lets a 3x3
max-pool with the stage's stride pick the strongest activation of each
neighbourhood, then projects the width with a stride-1 1x1 convolution and a
norm. The module indices (``0`` pool, ``1`` conv, ``2`` norm) are those of the
official iResNet checkpoints. The pool is a :class:`~.layers.SeparableMaxPool`:
PyTorch's max-pool wherever a gradient flows, the same values computed without
indices wherever none does (eval, validation, frozen stages).
"""
from typing import Optional

import torch.nn as nn
from mmcv.cnn import build_conv_layer, build_norm_layer

from .layers import SeparableMaxPool, expand_to_dim

__all__ = ['PROJECTIONS', 'build_projection']

#: 'maxpool': iResNet's improved projection (MaxPool 3x3/s -> conv1x1 -> norm);
#: 'conv': ResNet's strided 1x1 conv -> norm;
#: 'avgpool': ResNet-D ("avg_down"): AvgPool s/s -> conv1x1 -> norm.
PROJECTIONS = ('maxpool', 'conv', 'avgpool')


def build_projection(in_channels: int,
                     out_channels: int,
                     stride: int = 1,
                     temporal_stride: int = 1,
                     projection: str = 'maxpool',
                     dim: int = 2,
                     conv_cfg: Optional[dict] = None,
                     norm_cfg: dict = dict(type='BN'),
                     keep_pool_place: bool = False) -> Optional[nn.Module]:
    """Build the shortcut of a block that changes resolution and/or width.

    Args:
        in_channels / out_channels (int): widths before and after the block.
        stride (int): spatial stride of the block.
        temporal_stride (int): temporal stride (3D only).
        projection (str): one of :data:`PROJECTIONS`.
        dim (int): 2 for images, 3 for clips.
        conv_cfg / norm_cfg (dict): mmcv layer configs.
        keep_pool_place (bool): a stage that dilates instead of striding
            (stride 1, dilation > 1: mmseg's output stride 8 and 16): a
            ``'maxpool'`` or ``'avgpool'`` projection that only widens keeps
            an ``nn.Identity`` where the pool would be, so the conv and norm
            keep the indices (``1``, ``2``) they have in the striding network
            and its weights (``iresnet://``) load unchanged, as mmseg's
            ``ResNetV1d`` keeps a kernel-1 average pool there.

    Returns:
        ``None`` for an identity shortcut, otherwise an ``nn.Sequential``.
        With ``'maxpool'``: pool only when only the resolution changes,
        conv + norm only when only the width changes (no pool where the
        block does not stride: nothing is dropped, nothing to pick).
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
        layers.append(
            SeparableMaxPool(
                kernel_size=expand_to_dim(3, dim,
                                          3 if temporal_stride > 1 else 1),
                stride=expand_to_dim(stride, dim, temporal_stride),
                padding=expand_to_dim(1, dim, 1 if temporal_stride > 1 else 0),
                dim=dim))
    elif strided and projection == 'avgpool':
        pool = nn.AvgPool2d if dim == 2 else nn.AvgPool3d
        window = expand_to_dim(stride, dim, temporal_stride)
        layers.append(
            pool(
                kernel_size=window,
                stride=window,
                ceil_mode=True,
                count_include_pad=False))
    elif strided:
        conv_stride = expand_to_dim(stride, dim, temporal_stride)
    elif keep_pool_place and widen and projection != 'conv':
        layers.append(nn.Identity())
    if widen or conv_stride != 1:
        conv_cfg = conv_cfg or dict(type=f'Conv{dim}d')
        layers.append(
            build_conv_layer(
                conv_cfg,
                in_channels,
                out_channels,
                kernel_size=1,
                stride=conv_stride,
                bias=False))
        layers.append(build_norm_layer(norm_cfg, out_channels)[1])
    return nn.Sequential(*layers)
