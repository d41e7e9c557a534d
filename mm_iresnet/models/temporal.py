"""Temporal operations of the 2D video networks, as modules in the tree.

A 2D video backbone (TSM, C2D, ...) sees frames ``(N * T, C, H, W)``; these
modules regroup them into clips to act over time. Each is called by the
block or the backbone at a named position and shows in ``print(model)``.
The shift and the pools hold no parameters, so 2D checkpoints load
unchanged into the networks that use them.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import NonLocal3d

from ..deps import require
from .layers import graph_capture

__all__ = [
    'to_clips', 'to_frames', 'check_frames', 'TemporalShift', 'TemporalPool',
    'SegmentNonLocal', 'SHIFT_PLACES'
]

#: where a block shifts: 'blockres' the residual branch (the input of its
#: first conv), 'block' the whole block input (shortcut included)
SHIFT_PLACES = ('blockres', 'block')


def to_clips(x: torch.Tensor, num_segments: int) -> torch.Tensor:
    """(N * T, C, H, W) frames -> (N, C, T, H, W) clips."""
    check_frames(x, num_segments)
    n, c, h, w = x.shape
    return x.view(n // num_segments, num_segments, c, h, w).transpose(1, 2)


def check_frames(x: torch.Tensor, num_segments: int):
    """Raise where a batch of frames is not whole clips; nothing while a
    graph is captured (:func:`~.layers.graph_capture`), where the batch
    size is no value to check."""
    if not graph_capture(x) and x.shape[0] % num_segments:
        raise ValueError(f'{num_segments} segments per clip need a batch of '
                         f'clips x segments frames, got {x.shape[0]} frames')


def to_frames(x: torch.Tensor) -> torch.Tensor:
    """(N, C, T, H, W) clips -> (N * T, C, H, W) frames."""
    n, c, t, h, w = x.shape
    return x.transpose(1, 2).reshape(n * t, c, h, w)


class TemporalShift(nn.Module):
    """Shift 1/``shift_div`` of the channels one segment back and
    1/``shift_div`` one segment forward in time (TSM, Lin et al. 2019), by
    mmaction's own ``TemporalShift.shift``. No parameters."""

    def __init__(self, num_segments: int, shift_div: int = 8):
        super().__init__()
        if num_segments < 1 or shift_div < 1:
            raise ValueError('num_segments and shift_div must be >= 1, got '
                             f'{num_segments} and {shift_div}')
        require('mmaction')
        self.num_segments = num_segments
        self.shift_div = shift_div

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from mmaction.models.backbones.resnet_tsm import TemporalShift
        check_frames(x, self.num_segments)
        return TemporalShift.shift(x, self.num_segments, self.shift_div)

    def extra_repr(self) -> str:
        return f'num_segments={self.num_segments}, shift_div={self.shift_div}'


class TemporalPool(nn.Module):
    """Halve the segments of each clip with a (3, 1, 1) / 2 max-pool in time
    (mmaction's TSM ``temporal_pool``). No parameters."""

    def __init__(self, num_segments: int):
        super().__init__()
        if num_segments < 2:
            raise ValueError('temporal_pool halves the segments: it needs '
                             f'num_segments >= 2, got {num_segments}')
        self.num_segments = num_segments

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return to_frames(
            F.max_pool3d(
                to_clips(x, self.num_segments), (3, 1, 1),
                stride=(2, 1, 1),
                padding=(1, 0, 0)))

    def extra_repr(self) -> str:
        return f'num_segments={self.num_segments}'


class SegmentNonLocal(NonLocal3d):
    """mmcv's NonLocal3d over the segments of each clip of a 2D batch
    (mmaction's TSM ``NL3DWrapper``); parameter names are NonLocal3d's."""

    def __init__(self, in_channels: int, num_segments: int, **kwargs):
        super().__init__(in_channels, **kwargs)
        self.num_segments = num_segments

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return to_frames(super().forward(
            to_clips(x, self.num_segments).contiguous()))
