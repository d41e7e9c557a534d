"""One residual block for every member of the family, in 2D and 3D.

:class:`ResBlock` is the single block implementation of this package. What
varies between ResNet v1, pre-activation ResNet and iResNet's ResStage is the
:class:`~.layouts.Layout` it is given; what varies between 2D and 3D is
``dim`` (and the temporal kernel of each conv); what varies between the basic,
bottleneck and grouped (ResNeXt / iResGroup) blocks is the list of
convolutions built by :func:`conv_specs`, the home of the second iResNet idea,
the **grouped building block**.
"""
import copy
from typing import List, NamedTuple, Optional, Sequence

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn import (build_activation_layer, build_conv_layer,
                      build_norm_layer, build_plugin_layer)
from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm

from .fuse import fold_named, fold_sequential
from .layers import SeparableMaxPool, expand_to_dim, graph_capture
from .layouts import Layout
from .merge import build_merge
from .temporal import SHIFT_PLACES, SegmentNonLocal, TemporalShift

__all__ = [
    'BLOCK_KINDS', 'INFLATE_STYLES', 'ConvSpec', 'block_expansion',
    'conv_specs', 'temporal_kernels', 'ResBlock'
]

#: kind -> expansion (out_channels = planes * expansion) of the blocks:
#: ResNet's basic and bottleneck blocks, and the interaction-preserved
#: bottleneck of CSN (a 1x1 conv before the grouped 3x3).
BLOCK_KINDS = {'basic': 1, 'bottleneck': 4, 'bottleneck_ip': 4}
#: how a block is inflated in time (3D): None, or mmaction's styles
INFLATE_STYLES = (None, '3x1x1', '3x3x3')


def block_expansion(kind: str) -> int:
    """out_channels / planes of a ``kind`` block (ValueError if unknown)."""
    if kind not in BLOCK_KINDS:
        raise ValueError(f'unknown block kind {kind!r}; valid: '
                         f'{", ".join(BLOCK_KINDS)}')
    return BLOCK_KINDS[kind]


class ConvSpec(NamedTuple):
    """One convolution of a residual branch (spatial sizes; time is added by
    :class:`ResBlock` for 3D)."""

    in_channels: int
    out_channels: int
    kernel_size: int
    stride: int = 1
    dilation: int = 1
    groups: int = 1
    #: this conv carries the block's stride (a 3D block's temporal one too)
    carries_stride: bool = False
    #: an inner conv is followed by norm and activation; False: norm only
    act: bool = True


def conv_specs(kind: str,
               in_channels: int,
               mid_channels: int,
               out_channels: int,
               stride: int = 1,
               dilation: int = 1,
               groups: int = 1,
               style: str = 'pytorch') -> List[ConvSpec]:
    """The convolutions of a basic or bottleneck (optionally grouped) branch.

    * ``basic``: 3x3 (stride, dilation) -> 3x3.
    * ``bottleneck``: 1x1 -> 3x3 with ``groups`` (the grouped building block of
      ResNeXt and iResGroup; with ``groups`` equal to the width, the
      channel-separated conv of CSN) -> 1x1. ``style='pytorch'`` puts the
      stride on the 3x3 conv, ``'caffe'`` on the first 1x1, as mmdet does.
    * ``bottleneck_ip``: the bottleneck with a 1x1 conv (norm, no activation)
      before its grouped 3x3: CSN's interaction-preserved block.
    """
    if style not in ('pytorch', 'caffe'):
        raise ValueError(f"style must be 'pytorch' or 'caffe', got {style!r}")
    block_expansion(kind)
    if kind == 'basic':
        if groups != 1:
            raise ValueError('grouped convolutions need the bottleneck block '
                             f'(got groups={groups} with a basic block)')
        return [
            ConvSpec(
                in_channels,
                mid_channels,
                3,
                stride,
                dilation,
                carries_stride=True),
            ConvSpec(mid_channels, out_channels, 3),
        ]
    caffe = style == 'caffe'
    preserve = [ConvSpec(mid_channels, mid_channels, 1, act=False)] \
        if kind == 'bottleneck_ip' else []
    return [
        ConvSpec(
            in_channels,
            mid_channels,
            1,
            stride if caffe else 1,
            carries_stride=caffe),
        *preserve,
        ConvSpec(
            mid_channels,
            mid_channels,
            3,
            1 if caffe else stride,
            dilation,
            groups,
            carries_stride=not caffe),
        ConvSpec(mid_channels, out_channels, 1),
    ]


def temporal_kernels(convs: Sequence[ConvSpec],
                     inflate_style: Optional[str]) -> List[int]:
    """The temporal kernel of each conv of a 3D block, as mmaction inflates
    its blocks: none (``None``); a basic block's 3x3 convs all get 3; else
    '3x1x1' gives the first conv 3, '3x3x3' the spatial 3x3 conv(s)."""
    if inflate_style not in INFLATE_STYLES:
        raise ValueError(f'inflate_style must be one of {INFLATE_STYLES}, '
                         f'got {inflate_style!r}')
    if inflate_style is None:
        return [1] * len(convs)
    if all(c.kernel_size == 3 for c in convs):
        return [3] * len(convs)
    if inflate_style == '3x1x1':
        return [3] + [1] * (len(convs) - 1)
    return [3 if c.kernel_size == 3 else 1 for c in convs]


class ResBlock(BaseModule):
    """A residual block whose layer order is given by a :class:`Layout`.

    Computes ``post(merge(branch(x), shortcut(x)))`` with ::

        branch = [pre_norm] [pre_act] conv1-norm1-act [plugins] ...
                 convN [last_norm] [last_act] [plugins]
        post   = [post_norm] [post_act]

    where ``shortcut`` is the identity or the ``downsample`` projection and
    ``merge`` an addition unless ``merge`` says otherwise.

    Norm layers keep mmdet/official names: ``bn0`` (``pre_norm``),
    ``bn1..bnN`` after the convs; the after-add norm takes the name ``bnN``
    when the last conv has no norm of its own (the official iResNet end block),
    else ``bnN_out``. The shortcut is ``downsample``.

    Args:
        convs (list[ConvSpec]): the branch, from :func:`conv_specs`.
        layout (Layout): where norms and activations sit.
        downsample (nn.Module, optional): projection shortcut.
        dim (int): 2 or 3.
        inflate_style (str, optional): 3D only, how the block is inflated in
            time (see :func:`temporal_kernels`); None: not at all.
        temporal_stride (int): 3D only, temporal stride of the strided conv.
        conv_cfg (dict, optional): conv layer config (default Conv{dim}d).
        norm_cfg (dict): norm layer config.
        act_cfg (dict): activation config.
        dcn (dict, optional): deformable conv config for the 3x3 conv of the
            branch (``conv2``); ``fallback_on_stride=True`` keeps a plain conv
            where that conv is strided.
        plugins (list[dict], optional): mmdet plugin dicts with ``cfg`` and
            ``position`` (``'after_conv1'`` ... ``'after_convN'``).
        with_cp (bool): checkpoint the whole block (activation recomputation).
        merge (dict, optional): how the branch and an identity shortcut are
            merged (``type`` one of :data:`~.merge.MERGES`: constant scaling,
            exclusive / shortcut-only gating, 1x1 conv, dropout); blocks with
            a projection shortcut add. Default: addition.
        non_local_cfg (dict, optional): add a non-local block after the
            block (as mmaction's ``non_local``), built with these keyword
            arguments: mmcv's NonLocal{dim}d, or with
            ``type='SegmentNonLocal'`` and ``num_segments`` a NonLocal3d over
            the segments of each clip of a 2D batch (TSM).
        temporal_shift (dict, optional): 2D video only: shift channels in
            time (:class:`~.temporal.TemporalShift`, ``num_segments`` and
            ``shift_div``) at ``place`` 'blockres' (the branch, before
            ``conv1``) or 'block' (the block input, shortcut included).
        zero_init_residual (bool): zero-initialise the end of the branch so
            the block starts as its shortcut: the scale of the last norm of the
            branch when there is one (start and one-block blocks of ResStage,
            ResNet v1 and (c)/(d) orderings), otherwise the weight of the last
            conv (ResStage middle/end blocks, pre-activation). The after-add
            norm of an end block is never zeroed: it is on the main path.
    """

    def __init__(self,
                 convs: Sequence[ConvSpec],
                 layout: Layout,
                 downsample: Optional[nn.Module] = None,
                 dim: int = 2,
                 inflate_style: Optional[str] = None,
                 temporal_stride: int = 1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 act_cfg: dict = dict(type='ReLU', inplace=True),
                 dcn: Optional[dict] = None,
                 plugins: Optional[List[dict]] = None,
                 with_cp: bool = False,
                 merge: Optional[dict] = None,
                 non_local_cfg: Optional[dict] = None,
                 temporal_shift: Optional[dict] = None,
                 zero_init_residual: bool = False,
                 init_cfg=None):
        super().__init__(init_cfg)
        self.layout = layout
        self.dim = dim
        self.with_cp = with_cp
        self.num_convs = len(convs)
        self.in_channels = convs[0].in_channels
        self.out_channels = convs[-1].out_channels
        self.downsample = downsample
        self.merge = build_merge(merge, self.in_channels, dim) \
            if downsample is None else None
        self.conv_acts = [spec.act for spec in convs]
        self._build_branch(convs, inflate_style, temporal_stride, conv_cfg,
                           norm_cfg, dcn)
        self._build_activations(act_cfg)
        self.plugin_names = {i: [] for i in range(1, self.num_convs + 1)}
        for plugin in plugins or []:
            self._add_plugin(plugin, convs)
        self._sum_in_place = self._branch_end_saves_no_output()
        self._build_temporal_shift(temporal_shift)
        self.non_local_block = None
        if non_local_cfg is not None:
            self.non_local_block = _build_non_local(self.out_channels, dim,
                                                    non_local_cfg)
        #: a composite last conv to zero in :meth:`init_weights`
        self._zero_init_composite = None
        if zero_init_residual and init_cfg is None:
            self._zero_init_branch_end()

    # ------------------------------------------------------------------
    # construction
    def _build_branch(self, convs: Sequence[ConvSpec],
                      inflate_style: Optional[str], temporal_stride: int,
                      conv_cfg: Optional[dict], norm_cfg: dict,
                      dcn: Optional[dict]):
        """The residual branch: its norms and its convs ``conv1..N``.

        The pre-activation norm comes first; the after-add norm is
        registered before the convs, so that the module order never shows it
        right after the last conv: tools that fold every BN following a conv
        in registration order (mmcv's fuse_conv_bn, mmdet's --fuse-conv-bn)
        must not fold a norm that reads the sum of branch and shortcut.
        """
        kernels_t = temporal_kernels(convs, inflate_style)
        layer_cfgs = self._conv_layer_cfgs(convs, temporal_stride, conv_cfg,
                                           dcn)
        layout = self.layout
        self.norm_names = {}
        if layout.pre_norm:
            self._add_norm(0, self.in_channels, norm_cfg)
        if layout.post_norm:
            self._add_norm('out' if layout.last_norm else self.num_convs,
                           self.out_channels, norm_cfg)
        for i, spec in enumerate(convs, start=1):
            st = temporal_stride if spec.carries_stride else 1
            self.add_module(
                f'conv{i}',
                self._build_conv(spec, layer_cfgs[i - 1], kernels_t[i - 1],
                                 st))
            if i < self.num_convs or layout.last_norm:
                self._add_norm(i, spec.out_channels, norm_cfg)

    def _conv_layer_cfgs(self, convs: Sequence[ConvSpec], temporal_stride: int,
                         conv_cfg: Optional[dict],
                         dcn: Optional[dict]) -> List[dict]:
        """The layer config of each conv: ``conv_cfg`` (a plain conv of the
        block's dimension by default), ``dcn`` for the second conv (the 3x3)
        unless ``fallback_on_stride`` keeps a strided one plain."""
        conv_cfg = conv_cfg or dict(type=f'Conv{self.dim}d')
        dcn = copy.deepcopy(dcn)
        fallback_on_stride = dcn.pop('fallback_on_stride', False) if dcn \
            else False
        if dcn is not None and conv_cfg.get('type') not in ('Conv2d', None):
            raise ValueError('dcn replaces the 3x3 conv: it cannot be '
                             f'combined with conv_cfg={conv_cfg}')
        layer_cfgs = []
        for i, spec in enumerate(convs, start=1):
            st = temporal_stride if spec.carries_stride else 1
            deformable = dcn is not None and i == 2 and not (
                fallback_on_stride and (spec.stride > 1 or st > 1))
            layer_cfgs.append(dcn if deformable else conv_cfg)
        return layer_cfgs

    def _build_conv(self, spec: ConvSpec, layer_cfg: dict, kernel_t: int,
                    stride_t: int) -> nn.Module:
        """The conv ``spec`` describes, in the block's dimension: temporal
        kernel ``kernel_t`` and stride ``stride_t`` in 3D."""
        dim = self.dim
        return build_conv_layer(
            layer_cfg,
            spec.in_channels,
            spec.out_channels,
            kernel_size=expand_to_dim(spec.kernel_size, dim, kernel_t),
            stride=expand_to_dim(spec.stride, dim, stride_t),
            padding=expand_to_dim(spec.dilation * (spec.kernel_size - 1) // 2,
                                  dim, (kernel_t - 1) // 2),
            dilation=expand_to_dim(spec.dilation, dim, 1),
            groups=spec.groups,
            bias=False)

    def _build_activations(self, act_cfg: dict):
        """``act``, and ``pre_act`` where the layout has a pre-activation.
        The pre-activation of a block without leading norm reads the block
        input, which the shortcut still needs: it must not work in place."""
        self.act = build_activation_layer(act_cfg)
        pre_act_cfg = dict(act_cfg)
        if 'inplace' in pre_act_cfg:
            pre_act_cfg['inplace'] = False
        self.pre_act = build_activation_layer(pre_act_cfg) \
            if self.layout.pre_act else None

    def _build_temporal_shift(self, temporal_shift: Optional[dict]):
        """The temporal shift and its place ('blockres' or 'block'), or no
        shift (``shift_place`` None)."""
        self.shift_place = None
        if temporal_shift is None:
            return
        shift = dict(temporal_shift)
        self.shift_place = shift.pop('place', 'blockres')
        if self.shift_place not in SHIFT_PLACES:
            raise ValueError(f'shift place must be one of {SHIFT_PLACES}'
                             f', got {self.shift_place!r}')
        self.temporal_shift = TemporalShift(**shift)

    def _zero_init_branch_end(self):
        """``zero_init_residual``: an ``init_cfg`` that zeroes the end of
        the branch (its last norm, else its last conv), or, for a composite
        last conv, its name for :meth:`init_weights`."""
        last = self.num_convs
        target = self.norm_names.get(last) if self.layout.last_norm \
            else f'conv{last}'
        if isinstance(
                getattr(getattr(self, target), 'weight', None), torch.Tensor):
            self.init_cfg = dict(
                type='Constant', val=0, override=dict(name=target))
        else:  # convs inside (mmaction's Conv2plus1d): init_weights
            self._zero_init_composite = target

    def init_weights(self):
        """mmengine's init; then, for ``zero_init_residual`` with a composite
        last conv (a module of convs such as mmaction's Conv2plus1d, which
        initialises itself after this block's ``init_cfg`` and whose
        ``bias`` is a flag), the weight of its last conv is zeroed."""
        super().init_weights()
        if self._zero_init_composite is not None:
            convs = [
                m for m in getattr(self, self._zero_init_composite).modules()
                if isinstance(m, nn.modules.conv._ConvNd)
            ]
            nn.init.zeros_(convs[-1].weight)
            if convs[-1].bias is not None:
                nn.init.zeros_(convs[-1].bias)

    def _branch_end_saves_no_output(self) -> bool:
        """Whether the branch ends in a layer whose backward does not read
        its output (a conv, or a BN: no activation, no plugin after the last
        conv), so that the sum may overwrite it with a gradient flowing."""
        last = self.num_convs
        end = self.norm(last) if self.layout.last_norm else \
            getattr(self, f'conv{last}')
        return not self.layout.last_act and not self.plugin_names[last] \
            and isinstance(end, (nn.modules.conv._ConvNd, _BatchNorm))

    def _add_norm(self, key, channels, norm_cfg):
        name, layer = build_norm_layer(
            norm_cfg,
            channels,
            postfix=key if key != 'out' else f'{self.num_convs}_out')
        self.add_module(name, layer)
        self.norm_names[key] = name

    def _add_plugin(self, plugin, convs):
        positions = [f'after_conv{i}' for i in range(1, self.num_convs + 1)]
        if not isinstance(plugin, dict) or plugin.get('position') \
                not in positions:
            raise ValueError(f'plugin {plugin} needs a position among '
                             f'{positions} for this block')
        index = positions.index(plugin['position']) + 1
        cfg = dict(plugin['cfg'])
        name, layer = build_plugin_layer(
            cfg,
            in_channels=convs[index - 1].out_channels,
            postfix=cfg.pop('postfix', ''))
        if hasattr(self, name):
            raise ValueError(f'duplicate plugin {name}: give each plugin of '
                             "the same type a distinct 'postfix'")
        self.add_module(name, layer)
        self.plugin_names[index].append(name)

    def norm(self, key) -> nn.Module:
        """The norm layer at ``key``: 0 (pre), 1..N (after conv i), or the
        after-add norm (``N`` or ``'out'``)."""
        return getattr(self, self.norm_names[key])

    def switch_to_deploy(self):
        """Fold every BN that directly follows a conv into it (inference
        only): the branch's norms after conv1..N-1, the last norm of a branch
        that has one, and the shortcut's. The pre-activation norm and the
        norm after the addition read sums, not conv outputs: they stay. A
        shortcut max-pool that is a plain ``nn.MaxPool`` (a model from
        elsewhere) becomes a :class:`~.layers.SeparableMaxPool` (the same
        values, faster on CPU). Returns the folded norms."""
        folded = []
        for i in range(1, self.num_convs + 1):
            if (i < self.num_convs or self.layout.last_norm) and \
                    fold_named(self, f'conv{i}', self.norm_names[i]):
                folded.append(self.norm_names[i])
        if isinstance(self.downsample, nn.Sequential):
            folded += fold_sequential(self.downsample, 'downsample')
            # a plain max-pool in its faster, equal inference form
            for key, module in self.downsample._modules.items():
                fast = SeparableMaxPool.from_pool(module)
                if fast is not None:
                    self.downsample._modules[key] = fast
        return folded

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        layout = self.layout
        if self.shift_place == 'block':
            x = self.temporal_shift(x)
        identity = x if self.downsample is None else self.downsample(x)
        out = x
        if layout.pre_norm:
            out = self.norm(0)(out)
        if layout.pre_act:
            out = self.pre_act(out)
        if self.shift_place == 'blockres':
            out = self.temporal_shift(out)
        last = self.num_convs
        for i in range(1, last + 1):
            out = getattr(self, f'conv{i}')(out)
            if i < last or layout.last_norm:
                out = self.norm(i)(out)
            if layout.last_act if i == last else self.conv_acts[i - 1]:
                out = self.act(out)
            for name in self.plugin_names[i]:
                out = getattr(self, name)(out)
        if self.merge is not None:
            out = self.merge(x, identity, out)
        elif self._adds_in_place(out, identity):
            out += identity
        else:
            out = out + identity
        if layout.post_norm:
            out = self.norm('out' if layout.last_norm else last)(out)
        if layout.post_act:
            out = self.act(out)
        return out

    def _adds_in_place(self, out: torch.Tensor,
                       identity: torch.Tensor) -> bool:
        """The sum may overwrite the branch's output (saving a tensor) where
        it has the sum's shape and dtype (not so under autocast, where the
        sum of a half and a float tensor is a float), no graph is being
        captured (FX, trace, export, compile: asked first, as an FX proxy's
        shape is no value to compare), and either autograd records nothing
        or the branch's last layer does not keep its output for
        backward."""
        if graph_capture(out) or out.shape != identity.shape or \
                out.dtype != identity.dtype:
            return False
        return self._sum_in_place or not (torch.is_grad_enabled() and
                                          (out.requires_grad
                                           or identity.requires_grad))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            out = cp.checkpoint(self._forward, x, use_reentrant=False)
        else:
            out = self._forward(x)
        if self.non_local_block is not None:
            out = self.non_local_block(out)
        return out


def _build_non_local(channels: int, dim: int, cfg: dict) -> nn.Module:
    """mmcv's NonLocal{dim}d, or the ``type`` the config names."""
    from mmcv.cnn import NonLocal2d, NonLocal3d
    cfg = dict(cfg)
    kinds = dict(
        NonLocal2d=NonLocal2d,
        NonLocal3d=NonLocal3d,
        SegmentNonLocal=SegmentNonLocal)
    kind = cfg.pop('type', f'NonLocal{dim}d')
    if kind not in kinds:
        raise ValueError(f'unknown non-local type {kind!r}; valid: '
                         f'{", ".join(kinds)}')
    block = kinds[kind](channels, **cfg)
    # it initialises itself on construction, and mmcv's init_weights fails
    # once sub_sample has wrapped its convs
    block.is_init = True
    return block
