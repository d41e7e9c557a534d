"""SlowFast iResNet: two IResNet3d pathways with mmaction's lateral
connections (Feichtenhofer et al. 2019), a drop-in for ``ResNet3dSlowFast``.

Each pathway is an :class:`IResNet3d` (ResStage layout, improved projection,
pool-less stem); the slow pathway's stages take the fast pathway's features
in through strided temporal convs, concatenated to their input: the
pathway widens those stages' inputs in the network's spec
(:meth:`IResNet3dPathway.adapt_spec`) and owns the lateral convs. iResNet
has no stem max-pool in either pathway: both move its spatial stride into
stage 1, so the lateral after the stem and those after each stage still join
features of equal spatial size, and the lateral conv's temporal stride
(``speed_ratio``) brings the fast frame rate to the slow one, as in
mmaction. What two laterally joined pathways share
(:class:`IResNet3dTwoPathway`) also serves RGBPoseConv3D (:mod:`.rgbpose`).
"""
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.logging import MMLogger
from mmengine.model import BaseModule
from mmengine.registry import MODELS

from .args import per_stage
from .iresnet3d import IResNet3d
from .spec import BackboneSpec

__all__ = ['IResNet3dPathway', 'IResNet3dTwoPathway', 'IResNet3dSlowFast']


@MODELS.register_module()
class IResNet3dPathway(IResNet3d):
    """One SlowFast pathway (mmaction's ResNet3dPathway arguments).

    Args:
        lateral (bool): this pathway receives the other one's features.
        lateral_inv (bool): upsample time with a transposed conv (mmaction's
            DeConvModule) instead of a strided conv.
        lateral_norm (bool): norm + activation after the lateral convs.
        speed_ratio (int): alpha, fast frames per slow frame.
        channel_ratio (int): beta, slow channels per fast channel.
        fusion_kernel (int): temporal kernel of the lateral convs.
        lateral_infl (int): channel inflation of the lateral features.
        lateral_activate (Sequence[int]): per stage, 1 to fuse into it.
        with_pool2 (bool): off by default: SlowFast never applies it.
        **kwargs: :class:`IResNet3d` arguments.
    """

    takes_laterals = True

    def __init__(self,
                 lateral: bool = False,
                 lateral_inv: bool = False,
                 lateral_norm: bool = False,
                 speed_ratio: int = 8,
                 channel_ratio: int = 8,
                 fusion_kernel: int = 5,
                 lateral_infl: int = 2,
                 lateral_activate: Sequence[int] = (1, 1, 1, 1),
                 with_pool2: bool = False,
                 **kwargs):
        self.lateral_inv = lateral_inv
        self.speed_ratio = speed_ratio
        self.channel_ratio = channel_ratio
        self.fusion_kernel = fusion_kernel
        self.lateral_infl = lateral_infl
        self.lateral_activate = lateral_activate
        #: stage index -> name of the lateral whose output joins that
        #: stage's input: ``conv1_lateral`` (after the stem, into stage 0)
        #: and ``layer{i}_lateral`` (after stage i, into stage i)
        self.lateral_names = {}
        super().__init__(lateral=lateral, with_pool2=with_pool2, **kwargs)
        #: this pathway's channels where each lateral joins (the input of
        #: each stage before widening: the stem's output, then each stage's)
        self.lateral_from = [self.spec.stem.channels] + \
            self.stage_channels[:-1]
        #: channels each stage's input gains from the laterals
        self.lateral_in_channels = self._lateral_widths(self.lateral_from)
        for i, channels in enumerate(self.lateral_in_channels):
            if channels:
                name = 'conv1_lateral' if i == 0 else f'layer{i}_lateral'
                self.add_module(
                    name,
                    self._lateral_conv(self.lateral_from[i], channels,
                                       lateral_norm))
                self.lateral_names[i] = name
        #: names of the stage laterals, in the order the features meet;
        #: ``conv1_lateral`` apart, as in mmaction
        self.lateral_connections = [
            name for i, name in sorted(self.lateral_names.items()) if i
        ]
        self._freeze_stages()  # the laterals exist only now

    def lateral_into(self, stage: int) -> Optional[nn.Module]:
        """The lateral whose output is concatenated to the input of stage
        ``stage`` (index; 0: after the stem), or None where that stage takes
        no lateral."""
        name = self.lateral_names.get(stage)
        return None if name is None else getattr(self, name)

    def _freeze_stages(self):
        """The stem and stages 1..k, and with stage i the lateral that
        carries its output to the next stage (``layer{i}_lateral``), as
        mmaction's ResNet3dPathway; the lateral into stage 1
        (``conv1_lateral``) stays trainable there too."""
        super()._freeze_stages()
        for i in range(1, self.frozen_stages + 1):
            lateral = self.lateral_into(i)
            if lateral is None:
                continue
            lateral.eval()
            for param in lateral.parameters():
                param.requires_grad = False

    def adapt_spec(self, spec: BackboneSpec) -> BackboneSpec:
        """With ``lateral``, each activated stage also takes the other
        pathway's features, brought to this pathway's frame rate and
        ``lateral_infl / channel_ratio`` of its own width."""
        return spec.with_stage_inputs(
            self._lateral_widths([stage.in_channels for stage in spec.stages]))

    def _lateral_widths(self, joins: Sequence[int]) -> List[int]:
        """Channels each stage's input gains from the laterals, where this
        pathway has ``joins`` channels at each stage's input (0: none)."""
        activate = per_stage(
            'lateral_activate',
            self.lateral_activate,
            len(joins),
            by_index=True)
        scale = (lambda c: c * self.channel_ratio // self.lateral_infl) \
            if self.lateral_inv else \
            (lambda c: c * self.lateral_infl // self.channel_ratio)
        return [
            scale(c) if self.lateral and activate[i] else 0
            for i, c in enumerate(joins)
        ]

    def _lateral_conv(self, channels: int, out_channels: int,
                      norm: bool) -> nn.Module:
        """From the other pathway's features at a point where this one has
        ``channels``."""
        kernel = (self.fusion_kernel, 1, 1)
        stride = (self.speed_ratio, 1, 1)
        padding = ((self.fusion_kernel - 1) // 2, 0, 0)
        if self.lateral_inv:
            from mmaction.models.backbones.resnet3d_slowfast import \
                DeConvModule
            return DeConvModule(
                channels * self.channel_ratio,
                out_channels,
                kernel,
                stride=stride,
                padding=padding,
                bias=False,
                with_bn=True,
                with_relu=True)
        return ConvModule(
            channels // self.channel_ratio,
            out_channels,
            kernel,
            stride=stride,
            padding=padding,
            bias=False,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg if norm else None,
            act_cfg=self.act_cfg if norm else None)


class IResNet3dTwoPathway(BaseModule):
    """Two :class:`IResNet3dPathway` networks joined by laterals: what
    SlowFast and RGBPoseConv3D share (the pathways as mmaction's dicts, a
    whole checkpoint through ``pretrained``). Each pathway owns its laterals
    and freezes them with its stages; subclasses say how the two meet in
    ``forward``.

    Args:
        pretrained (str, optional): a whole checkpoint of this network
            (each pathway may instead inflate a 2D checkpoint through its
            own ``pretrained``).
        speed_ratio (int): alpha, frames of the denser pathway per frame of
            the other.
        channel_ratio (int): beta, channels of the wider pathway per channel
            of the other.
        init_cfg: mmengine's (ignored by ``init_weights``, as in mmaction).
    """

    PATHWAY_TYPES = ('resnet3d', 'IResNet3dPathway')

    def __init__(self,
                 pretrained: Optional[str] = None,
                 speed_ratio: int = 8,
                 channel_ratio: int = 8,
                 init_cfg=None):
        super().__init__(init_cfg)
        if pretrained is not None and not isinstance(pretrained, str):
            raise TypeError('pretrained must be a str or None')
        self.pretrained = pretrained
        self.speed_ratio = speed_ratio
        self.channel_ratio = channel_ratio

    def build_pathway(self, cfg: dict) -> IResNet3dPathway:
        """A pathway from mmaction's dict; a lateral one takes this
        network's ratios (they win, as in mmaction)."""
        cfg = dict(cfg)
        kind = cfg.pop('type', 'resnet3d')
        if kind not in self.PATHWAY_TYPES:
            raise ValueError(f'unknown pathway type {kind!r}; valid: '
                             f'{", ".join(self.PATHWAY_TYPES)}')
        if cfg.get('lateral'):
            cfg.update(
                speed_ratio=self.speed_ratio, channel_ratio=self.channel_ratio)
        return IResNet3dPathway(**cfg)

    def init_weights(self):
        """Each pathway's own initialisation (and 2D inflation), then the
        whole checkpoint when ``pretrained`` is given (strict, as
        mmaction)."""
        for module in self.children():
            if isinstance(module, IResNet3dPathway):
                module.init_weights()
        if self.pretrained:
            from mmengine.runner import load_checkpoint
            logger = MMLogger.get_current_instance()
            logger.info(f'load {type(self).__name__} weights from '
                        f'{self.pretrained}')
            load_checkpoint(
                self,
                self.pretrained,
                map_location='cpu',
                strict=True,
                logger=logger)


@MODELS.register_module()
class IResNet3dSlowFast(IResNet3dTwoPathway):
    """SlowFast with iResNet pathways (mmaction's ResNet3dSlowFast).

    Args:
        pretrained (str, optional): a whole SlowFast checkpoint of this
            network (each pathway may instead inflate a 2D checkpoint through
            its own ``pretrained``).
        resample_rate (int): tau, input frames per slow frame.
        speed_ratio (int): alpha, fast frames per slow frame.
        channel_ratio (int): beta, slow channels per fast channel.
        slow_pathway / fast_pathway (dict): :class:`IResNet3dPathway`
            arguments; ``type`` 'resnet3d' (mmaction's name) or
            'IResNet3dPathway'.

    Returns ``(slow features, fast features)`` of the last stage, as
    mmaction's SlowFast; pool2 is not applied (neither does mmaction).
    """

    def __init__(self,
                 pretrained: Optional[str] = None,
                 resample_rate: int = 8,
                 speed_ratio: int = 8,
                 channel_ratio: int = 8,
                 slow_pathway: dict = dict(
                     type='resnet3d',
                     depth=50,
                     pretrained=None,
                     lateral=True,
                     conv1_kernel=(1, 7, 7),
                     dilations=(1, 1, 1, 1),
                     conv1_stride_t=1,
                     pool1_stride_t=1,
                     inflate=(0, 0, 1, 1)),
                 fast_pathway: dict = dict(
                     type='resnet3d',
                     depth=50,
                     pretrained=None,
                     lateral=False,
                     base_channels=8,
                     conv1_kernel=(5, 7, 7),
                     conv1_stride_t=1,
                     pool1_stride_t=1),
                 init_cfg=None):
        super().__init__(pretrained, speed_ratio, channel_ratio, init_cfg)
        if resample_rate % speed_ratio:
            raise ValueError(f'resample_rate ({resample_rate}) must be a '
                             f'multiple of speed_ratio ({speed_ratio})')
        self.resample_rate = resample_rate
        self.slow_path = self.build_pathway(slow_pathway)
        self.fast_path = self.build_pathway(fast_pathway)

    def forward(self, x: torch.Tensor):
        """(N, C, T, H, W) -> (slow, fast) features of the last stage."""
        slow, fast = self.slow_path, self.fast_path
        slow._check_input(x)
        x_slow = slow.forward_stem(
            F.interpolate(
                x,
                mode='nearest',
                scale_factor=(1.0 / self.resample_rate, 1, 1)))
        x_fast = fast.forward_stem(
            F.interpolate(
                x,
                mode='nearest',
                scale_factor=(1.0 / (self.resample_rate // self.speed_ratio),
                              1, 1)))
        x_slow = self._join(slow, 0, x_slow, x_fast)
        for i, name in enumerate(slow.res_layers, start=1):
            x_slow = getattr(slow, name)(x_slow)
            x_fast = getattr(fast, name)(x_fast)
            x_slow = self._join(slow, i, x_slow, x_fast)
        return x_slow, x_fast

    @staticmethod
    def _join(path: IResNet3dPathway, stage: int, x: torch.Tensor,
              other: torch.Tensor) -> torch.Tensor:
        """``x``, the input of ``path``'s stage ``stage`` (index; past the
        last stage: its output), with the lateral of the other pathway's
        features ``other`` concatenated where that stage takes one."""
        lateral = path.lateral_into(stage)
        return x if lateral is None else torch.cat((x, lateral(other)), 1)
