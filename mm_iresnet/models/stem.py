"""The stem as data: one :class:`StemSpec`, built in one place.

ResNet's stem is conv 7x7/2 - norm - act - max-pool 3x3/2. iResNet drops the
max-pool and moves its spatial stride into the first stage (the start block's
strided conv and its shortcut max-pool), so the output strides stay those of
ResNet. In 3D, mmaction's stem pool has a temporal kernel of 1: in time it
only subsamples frames, so that part stays in the stem (a kernel-1 max-pool,
exactly mmaction's time behaviour) and only the spatial stride moves.
"""
from typing import NamedTuple, Tuple

import torch.nn as nn
from mmcv.cnn import build_activation_layer, build_conv_layer, build_norm_layer

from .layers import expand_to_dim

__all__ = ['StemSpec', 'STEM_KINDS', 'POOL_MODES', 'build_stem']

#: 'conv': one k x k conv (ResNet's 7x7); 'deep': three 3x3 convs (ResNet-C,
#: mmdet's deep_stem), the first strided; 'cifar': one 3x3 stride-1 conv.
STEM_KINDS = ('conv', 'deep', 'cifar')
#: 'moved': ResNet's stem max-pool is dropped and its spatial stride moves
#: into stage 1 (iResNet); 'kept': the max-pool stays in the stem (ResNet);
#: 'none': no pool at all (nothing moves).
POOL_MODES = ('moved', 'kept', 'none')


class StemSpec(NamedTuple):
    """Everything the stem does. Spatial sizes are ints; ``time_*`` fields
    are used by 3D networks only."""

    kind: str = 'conv'
    channels: int = 64
    kernel: int = 7
    stride: int = 2
    pool: str = 'moved'
    pool_stride: int = 2
    time_kernel: int = 1
    time_stride: int = 1
    #: frames the stem keeps one of (mmaction's ``pool1_stride_t``)
    time_pool_stride: int = 1

    def check(self):
        """Raise ValueError for a spec that cannot be built as it says."""
        if self.kind not in STEM_KINDS:
            raise ValueError(f'unknown stem kind {self.kind!r}; valid: '
                             f'{", ".join(STEM_KINDS)}')
        if self.pool not in POOL_MODES:
            raise ValueError(f'unknown stem pool mode {self.pool!r}; valid: '
                             f'{", ".join(POOL_MODES)}')
        if self.kind == 'cifar' and (self.stride != 1 or self.pool != 'none'
                                     or self.kernel != 3):
            raise ValueError('the CIFAR stem is one 3x3 stride-1 conv with '
                             'no pool (got kernel '
                             f'{self.kernel}, stride {self.stride}, pool '
                             f'{self.pool!r})')
        if self.kind == 'deep' and self.kernel != 3:
            raise ValueError('the deep stem is made of 3x3 convs (got kernel '
                             f'{self.kernel})')
        for name in ('channels', 'kernel', 'stride', 'pool_stride',
                     'time_kernel', 'time_stride', 'time_pool_stride'):
            if int(getattr(self, name)) < 1:
                raise ValueError(f'stem {name} must be >= 1, got '
                                 f'{getattr(self, name)}')
        return self

    @property
    def total_stride(self) -> int:
        """Spatial stride of the stem itself."""
        return self.stride * (self.pool_stride if self.pool == 'kept' else 1)

    @property
    def moved_stride(self) -> int:
        """Spatial stride the first stage takes over from the stem pool."""
        return self.pool_stride if self.pool == 'moved' else 1


def _conv_layers(spec: StemSpec) -> Tuple[tuple, ...]:
    """(out_channels, kernel, stride, time_kernel, time_stride) per conv."""
    first = (spec.kernel, spec.stride, spec.time_kernel, spec.time_stride)
    if spec.kind != 'deep':
        return ((spec.channels, ) + first, )
    half = spec.channels // 2
    return ((half, ) + first, (half, 3, 1, 1, 1), (spec.channels, 3, 1, 1, 1))


def build_stem(spec: StemSpec, in_channels: int, dim: int, conv_cfg,
               norm_cfg: dict, act_cfg: dict) -> dict:
    """The stem's modules under their checkpoint names, in forward order:
    ``conv1``, ``norm1`` (e.g. ``bn1``), ``relu`` for a one-conv stem,
    ``stem`` (a Sequential) for the deep stem, then ``maxpool`` when the stem
    pools (``pool='kept'``, or a 3D stem that subsamples frames)."""
    spec.check()
    conv_cfg = conv_cfg or dict(type=f'Conv{dim}d')
    triples = []
    channels = in_channels
    for out, k, s, kt, st in _conv_layers(spec):
        conv = build_conv_layer(
            conv_cfg,
            channels,
            out,
            kernel_size=expand_to_dim(k, dim, kt),
            stride=expand_to_dim(s, dim, st),
            padding=expand_to_dim(k // 2, dim, (kt - 1) // 2),
            bias=False)
        triples.append((conv, build_norm_layer(norm_cfg, out, postfix=1),
                        build_activation_layer(act_cfg)))
        channels = out
    if spec.kind == 'deep':
        modules = dict(
            stem=nn.Sequential(*[
                m for conv, (_, norm), act in triples
                for m in (conv, norm, act)
            ]))
    else:
        [(conv, (norm_name, norm), act)] = triples
        modules = {'conv1': conv, norm_name: norm, 'relu': act}
    pool = _stem_pool(spec, dim)
    if pool is not None:
        modules['maxpool'] = pool
    return modules


def _stem_pool(spec: StemSpec, dim: int):
    if spec.pool == 'kept':
        pool = nn.MaxPool2d if dim == 2 else nn.MaxPool3d
        return pool(
            kernel_size=expand_to_dim(3, dim, 1),
            stride=expand_to_dim(spec.pool_stride, dim, spec.time_pool_stride),
            padding=expand_to_dim(1, dim, 0))
    if dim == 3 and spec.time_pool_stride > 1:
        # mmaction's pool1 in time: kernel 1, i.e. keep every n-th frame
        return nn.MaxPool3d(
            kernel_size=1, stride=(spec.time_pool_stride, 1, 1))
    return None
