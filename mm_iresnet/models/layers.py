"""Dimension helpers, and layers registered for use through ``conv_cfg``."""
from typing import Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.registry import MODELS

__all__ = ['Conv3dReplicateTime', 'expand_to_dim']


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



@MODELS.register_module()
class Conv3dReplicateTime(nn.Conv3d):
    """Conv3d that pads the time axis by repeating the border frames (space
    is zero-padded as usual). Select it with
    ``conv_cfg=dict(type='Conv3dReplicateTime')``.

    With it, a 3D network inflated from 2D weights maps a clip of identical
    frames to the 2D features at every time step, borders included; with
    zero padding that holds only away from the clip's first and last frames.
    Parameter names and shapes are those of ``nn.Conv3d``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.padding_mode != 'zeros':
            raise ValueError('Conv3dReplicateTime pads time itself; leave '
                             'padding_mode at its default')
        self.time_padding = self.padding[0]
        self.padding = (0, ) + tuple(self.padding[1:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.time_padding:
            p = self.time_padding
            x = F.pad(x, (0, 0, 0, 0, p, p), mode='replicate')
        return super().forward(x)
