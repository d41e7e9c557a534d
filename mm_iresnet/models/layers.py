"""Dimension helpers, and layers registered for use through ``conv_cfg``."""
import functools
import itertools
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.registry import MODELS
from torch._C import _functorch
from torch.autograd import forward_ad

__all__ = [
    'Conv3dReplicateTime', 'SeparableMaxPool', 'expand_to_dim',
    'graph_capture', 'pool_path'
]


def expand_to_dim(value: Union[int, Sequence[int]],
                  dim: int,
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


class SeparableMaxPool(nn.Module):
    """Max pooling (2D or 3D, dilation 1, floor mode) that gives
    ``nn.MaxPool{2,3}d``'s values and gradients bit for bit, faster on the
    CPU: iResNet's shortcut max-pool.

    Three paths, chosen by :func:`pool_path` (its table says which runs
    when). The *separable* path, for a plain tensor from which nothing is
    recorded (eval, validation, frozen stages), takes the maximum of strided
    views one axis at a time, which gives the values of ``nn.MaxPool{2,3}d``
    with the same kernel, stride and padding bit for bit: a maximum over a
    box is the maximum over each of its axes in turn, NaN propagates as in
    PyTorch's pool (a window holding a NaN gives NaN), and padding is
    ``-inf`` as PyTorch's pool implies. PyTorch's CPU max-pool kernel for
    the default layout computes the indices of the maxima one element at a
    time even without gradients, which made iResNet's shortcut pools
    several times slower than a few elementwise maxima. The one difference:
    of a window holding both ``0.0`` and ``-0.0`` PyTorch's pool returns the
    first in scan order, the separable form either (they compare equal).

    The *indexed* path, where autograd records on the CPU in 2D, is
    PyTorch's own pool with indices run on a channels-last copy of the input
    (that kernel is vectorised over channels), so values and indices are
    PyTorch's; it keeps each index as the offset of the maximum inside its
    window, one byte instead of an int64, and its backward rebuilds the
    indices and runs PyTorch's pool backward with them: each gradient goes
    to the element ``nn.MaxPool`` sends it to, ties and NaN included
    (:class:`_IndexedMaxPool`).

    The *native* path, PyTorch's pool, runs everywhere else: under
    ``torch.func`` transforms and forward AD, while a graph is captured (FX,
    ONNX export, ``torch.jit``, ``torch.compile``, ``torch.export``), which
    record one pooling op, and in training in 3D, in float16 and on other
    devices. No parameters: checkpoints are those of ``nn.MaxPool``.
    """

    def __init__(self, kernel_size, stride, padding, dim: int):
        super().__init__()
        self.dim = dim
        self.kernel_size = _tuple(kernel_size, dim)
        self.stride = _tuple(stride, dim)
        self.padding = _tuple(padding, dim)

    @classmethod
    def from_pool(cls, pool: nn.Module) -> Optional['SeparableMaxPool']:
        """The separable form of ``pool``, or None when it has none (not a
        plain max-pool: dilation, ceil mode or returned indices)."""
        if not isinstance(pool, (nn.MaxPool2d, nn.MaxPool3d)):
            return None
        dim = 2 if isinstance(pool, nn.MaxPool2d) else 3
        if pool.ceil_mode or pool.return_indices or \
                any(d != 1 for d in _tuple(pool.dilation, dim)):
            return None
        return cls(pool.kernel_size, pool.stride or pool.kernel_size,
                   pool.padding, dim)

    def to_native(self) -> nn.Module:
        """PyTorch's ``nn.MaxPool{2,3}d`` with the same settings."""
        pool = nn.MaxPool2d if self.dim == 2 else nn.MaxPool3d
        return pool(self.kernel_size, self.stride, self.padding)

    def native(self, x: torch.Tensor) -> torch.Tensor:
        """PyTorch's pool (indices computed where a gradient may flow)."""
        if self.dim == 2:
            return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)
        return F.max_pool3d(x, self.kernel_size, self.stride, self.padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_scripting():  # a script compiles native only
            path = pool_path(x, self.dim)
            if path == 'separable':
                return self.separable(x)
            if path == 'indexed':
                return self.indexed(x)
        return self.native(x)

    @torch.jit.unused
    def indexed(self, x: torch.Tensor) -> torch.Tensor:
        """PyTorch's pool and its backward, indices kept as bytes."""
        return _IndexedMaxPool.apply(x, self)

    @torch.jit.unused
    def separable(self, x: torch.Tensor) -> torch.Tensor:
        """The pool as the maximum of strided views, axis by axis."""
        out = x
        for axis, (k, s, p) in enumerate(
                zip(self.kernel_size, self.stride, self.padding)):
            if k > 1 or s > 1:
                out = _max_along(out, 2 + axis, k, s, p)
                if out is None:
                    return self.native(x)  # let PyTorch report it
        return out

    def extra_repr(self) -> str:
        return (f'kernel_size={self.kernel_size}, stride={self.stride}, '
                f'padding={self.padding}')


def _max_along(x: torch.Tensor, d: int, k: int, s: int,
               p: int) -> Optional[torch.Tensor]:
    """Max-pool ``x`` along axis ``d`` (kernel ``k``, stride ``s``, padding
    ``p`` of -inf), or None where PyTorch's pool would raise (no window
    fits, or more padding than half a window). One new tensor: output
    ``j`` is the maximum over offsets ``i`` of input ``j * s + i - p``;
    each offset's strided view goes into the output in place, over the
    outputs whose input lies inside (the padding is never materialised)."""
    n = x.shape[d]
    length = (n + 2 * p - k) // s + 1
    if length < 1 or 2 * p > k:
        return None
    spans = []  # (first output, count, first input) of each offset
    for i in range(k):
        first = max(0, -((i - p) // s))  # ceil((p - i) / s)
        last = min(length - 1, (n - 1 - i + p) // s)
        if last >= first:
            spans.append((first, last - first + 1, first * s + i - p))
    spans.sort(key=lambda span: -span[1])  # the widest first: it seeds

    def view(start, count):
        index = [slice(None)] * x.dim()
        index[d] = slice(start, start + (count - 1) * s + 1, s)
        return x[tuple(index)]

    shape = list(x.shape)
    shape[d] = length
    out = torch.empty(
        shape, dtype=x.dtype, device=x.device, memory_format=_memory_format(x))
    first, count, start = spans[0]
    if count < length:
        out.fill_(float('-inf'))
    out.narrow(d, first, count).copy_(view(start, count))
    for first, count, start in spans[1:]:
        part = out.narrow(d, first, count)
        torch.maximum(part, view(start, count), out=part)
    return out


class _IndexedMaxPool(torch.autograd.Function):
    """PyTorch's 2D max-pool with indices, as autograd sees it, faster on
    the CPU and with one byte per index.

    Forward: PyTorch's channels-last kernel on a channels-last copy of the
    input (the default layout's kernel computes window by window, the
    channels-last one is vectorised over channels); its values and indices
    are those of ``nn.MaxPool2d`` (tested on ties, NaN, windows of only
    ``-inf``, padding and odd sizes). Each index is kept as its maximum's
    offset inside the window (row-major, at most 255 offsets). Backward:
    the indices rebuilt, and PyTorch's pool backward with them, which is
    differentiable (double backward works).
    """

    @staticmethod
    def forward(ctx, x, pool):
        args = (pool.kernel_size, pool.stride, pool.padding, (1, 1), False)
        out, index = torch.ops.aten.max_pool2d_with_indices(
            x.contiguous(memory_format=torch.channels_last), *args)
        base, offset_of, distance = _window_tables(
            tuple(x.shape[2:]), tuple(out.shape[2:]), *args[:3])
        ctx.save_for_backward(x, offset_of.take(index - base))
        ctx.args, ctx.tables = args, (base, distance)
        return out.contiguous(memory_format=_memory_format(x))

    @staticmethod
    def backward(ctx, grad):
        x, offset = ctx.saved_tensors
        base, distance = ctx.tables
        fmt = _memory_format(x)
        index = (distance.take(offset.long()) +
                 base).contiguous(memory_format=fmt)
        return torch.ops.aten.max_pool2d_with_indices_backward(
            grad.contiguous(memory_format=fmt), x, *ctx.args, index), None


@functools.lru_cache(maxsize=256)
def _window_tables(in_shape: tuple, out_shape: tuple, kernel: tuple,
                   stride: tuple, padding: tuple):
    """For :class:`_IndexedMaxPool`, per input and output size: ``base``,
    the flat input index of each output window's first (possibly padded)
    element, over the output's spatial axes; ``offset_of``, the byte offset
    (row-major in the window) of each flat distance from ``base``;
    ``distance``, its inverse."""
    dim = len(in_shape)
    strides = [1] * dim
    for a in range(dim - 2, -1, -1):
        strides[a] = strides[a + 1] * in_shape[a + 1]
    base = torch.zeros(out_shape, dtype=torch.long)
    for a in range(dim):
        shape = [1] * dim
        shape[a] = out_shape[a]
        start = torch.arange(out_shape[a]) * stride[a] - padding[a]
        base.add_((start * strides[a]).view(shape))
    distance = [
        sum(o * s for o, s in zip(offset, strides))
        for offset in itertools.product(*(range(k) for k in kernel))
    ]
    offset_of = torch.zeros(max(distance) + 1, dtype=torch.uint8)
    offset_of[distance] = torch.arange(len(distance), dtype=torch.uint8)
    return base, offset_of, torch.tensor(distance)


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    """The layout of ``x`` that the pool's output keeps (channels-last in,
    channels-last out, as PyTorch's pool)."""
    if not x.is_contiguous():
        for fmt, dim in ((torch.channels_last, 4), (torch.channels_last_3d,
                                                    5)):
            if x.dim() == dim and x.is_contiguous(memory_format=fmt):
                return fmt
    return torch.contiguous_format


def pool_path(x, dim: int) -> str:
    """The path :class:`SeparableMaxPool` takes for ``x``: ``'separable'``,
    ``'indexed'`` or ``'native'`` (PyTorch's pool). The one place that
    chooses; the first row that applies decides.

    ======================================================  =========
    ``x``, or the state it is pooled in                     path
    ======================================================  =========
    a TorchScript script (``forward`` asks first)           native
    a graph is captured (:func:`graph_capture`)             native
    not a plain ``torch.Tensor`` (FakeTensor, ...)          native
    inside a ``torch.func`` transform (vmap, grad, jvp)     native
    a forward-AD dual tensor                                native
    quantized, or not ``dim + 2`` dimensions                native
    autograd records (grad mode on, ``x`` requires grad):
    a 2D pool on the CPU in float32, float64 or bfloat16    indexed
    autograd records, anywhere else                         native
    a plain tensor, nothing recorded (eval, ``no_grad``,    separable
    ``inference_mode``, frozen stages)
    ======================================================  =========

    Why: a captured graph records one pooling op, which its backends know;
    a tensor subclass sees PyTorch's op rather than the other forms' writes;
    the separable form writes into a tensor it makes, which a ``torch.func``
    transform does not batch or track, and ``maximum(out=)`` has no forward
    AD; the indexed form is an autograd function, which those transforms do
    not see through either; autograd's backward of PyTorch's pool sends each
    gradient to one maximum (an elementwise maximum would split ties), which
    the indexed form keeps; neither covers quantized tensors nor other
    ranks; the indexed form's point is the CPU kernel, measured faster there
    for 2D pools and not for 3D ones (docs/benchmarks.md), in the dtypes
    the CPU trains in.
    """
    if graph_capture(x) or type(x) is not torch.Tensor or \
            _functorch.is_functorch_wrapped_tensor(x) or \
            forward_ad.unpack_dual(x).tangent is not None or \
            x.is_quantized or x.dim() != dim + 2:
        return 'native'
    if torch.is_grad_enabled() and x.requires_grad:
        return 'indexed' if dim == 2 and x.device.type == 'cpu' and \
            x.dtype in (torch.float32, torch.float64, torch.bfloat16) \
            else 'native'
    return 'separable'


def graph_capture(x=None) -> bool:
    """Whether a graph is being captured rather than values computed:
    ``x`` is a ``torch.fx.Proxy`` (``symbolic_trace``, FX quantization,
    feature extraction), or an ONNX export, a TorchScript trace or a
    ``torch.compile`` / ``torch.export`` trace is under way (a TorchScript
    script is asked with ``torch.jit.is_scripting()`` where it is compiled).
    """
    # torch.compiler.is_compiling is documented from torch 2.3; before it,
    # torch._dynamo.is_compiling (which dynamo also folds to True)
    compiling = getattr(torch.compiler, 'is_compiling', None) or \
        torch._dynamo.is_compiling
    return isinstance(x, torch.fx.Proxy) or torch.onnx.is_in_onnx_export() \
        or torch.jit.is_tracing() or compiling()


def _tuple(value, dim: int) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else \
        (value, ) * dim
