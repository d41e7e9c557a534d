"""The 2D iResNet for mmaction2's Recognizer2D: TSN, TSM and the like.

:class:`IResNetAction` is the 2D network with mmaction's ``ResNet``
conventions (its arguments, a bare tensor for one output stage, BN not
frozen by default); it is registered as ``IResNet`` in mmaction2's registry,
which mmaction configs search before the root registry, so ``type='IResNet'``
in an mmaction config means this class and in an mmdet config mmdet's
flavour. :class:`IResNetTSM` adds mmaction's ``ResNetTSM`` options. The
temporal operations are modules of :mod:`~.temporal` that the blocks and the
backbone call at named positions (the shift before a block's first conv, the
temporal pool before stage 2, the non-local after a block); the shift and the
pools have no parameters, so 2D checkpoints load unchanged.
"""
import importlib.util
from typing import Optional, Sequence

import torch
import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.registry import MODELS

from ..deps import require
from .args import per_block
from .iresnet import IResNet
from .spec import BackboneSpec
from .temporal import SHIFT_PLACES, TemporalPool, to_clips, to_frames

__all__ = [
    'IResNetAction', 'IResNetTSM', 'ITANet', 'IC2D', 'register_in_mmaction'
]


@MODELS.register_module()
class IResNetAction(IResNet):
    """The 2D iResNet with mmaction2's ``ResNet`` conventions.

    Arguments and defaults are those of mmaction's ``ResNet`` (``depth``,
    ``pretrained``, ``torchvision_pretrain``, ``in_channels``,
    ``num_stages``, ``out_indices=(3,)``, ``strides``, ``dilations``,
    ``style``, ``frozen_stages``, ``conv_cfg``, ``norm_cfg``, ``act_cfg``,
    ``norm_eval=False``, ``partial_bn``, ``with_cp``, ``init_cfg``), plus
    :class:`IResNet`'s family arguments. One output stage comes back as a
    tensor, several as a tuple.

    Args:
        pretrained (str, optional): a 2D checkpoint in this package's naming
            (the official iResNet names), loaded as it is.
        torchvision_pretrain (bool): mmaction's flag for torchvision-named
            checkpoints; the iResNet names already are those, so the file is
            loaded by name either way (a torchvision *ResNet* checkpoint does
            not fit and its keys are reported).
        partial_bn (bool): in training, freeze every BatchNorm2d but the
            first (statistics and affine parameters), as mmaction's TSN.
    """

    single_output_as_tensor = True
    pretrained_is_deprecated = False

    def __init__(self,
                 depth: Optional[int] = 50,
                 pretrained: Optional[str] = None,
                 torchvision_pretrain: bool = True,
                 out_indices: Sequence[int] = (3, ),
                 norm_cfg: dict = dict(type='BN2d', requires_grad=True),
                 norm_eval: bool = False,
                 partial_bn: bool = False,
                 **kwargs):
        self.torchvision_pretrain = torchvision_pretrain
        self.partial_bn = partial_bn
        super().__init__(
            depth=depth,
            pretrained=pretrained,
            out_indices=out_indices,
            norm_cfg=norm_cfg,
            norm_eval=norm_eval,
            **kwargs)

    def train(self, mode: bool = True):
        super().train(mode)
        if mode and self.partial_bn:
            norms = [
                m for m in self.modules() if isinstance(m, nn.BatchNorm2d)
            ]
            for m in norms[1:]:
                m.eval()
                m.weight.requires_grad = False
                m.bias.requires_grad = False
        return self


@MODELS.register_module()
class IResNetTSM(IResNetAction):
    """The 2D iResNet with mmaction2's ``ResNetTSM`` options.

    Input: frames ``(N * num_segments, C, H, W)``.

    Args:
        num_segments (int): frames per clip.
        is_shift (bool): apply the temporal shift (False: a TSN backbone).
        shift_div (int): 1/shift_div of the channels move each way.
        shift_place (str): 'blockres' shifts the residual branch (before the
            first conv of a block; every other block when stage 3 has 23 or
            more, as mmaction does), 'block' the whole block input.
        temporal_pool (bool): halve the segments before stage 2 with a
            (3, 1, 1) / 2 max-pool in time; later stages shift over half as
            many segments.
        non_local (Sequence[int | Sequence[int]]): per stage or per block, 1
            adds a NonLocal3d over each clip's segments after the block
            (only when ``non_local_cfg`` is not empty, as in mmaction).
        non_local_cfg (dict): NonLocal3d's arguments.
        pretrained2d (bool): mmaction's flag; ``pretrained`` is a 2D
            checkpoint either way and loads by name.
        **kwargs: :class:`IResNetAction` arguments.
    """

    def __init__(self,
                 depth: Optional[int] = 50,
                 num_segments: int = 8,
                 is_shift: bool = True,
                 non_local: Sequence = (0, 0, 0, 0),
                 non_local_cfg: dict = dict(),
                 shift_div: int = 8,
                 shift_place: str = 'blockres',
                 temporal_pool: bool = False,
                 pretrained2d: bool = True,
                 **kwargs):
        if shift_place not in SHIFT_PLACES:
            raise ValueError(f'shift_place must be one of {SHIFT_PLACES}, '
                             f'got {shift_place!r}')
        if num_segments < 1 or shift_div < 1:
            raise ValueError('num_segments and shift_div must be >= 1')
        pool = TemporalPool(num_segments) if temporal_pool else None
        #: segments per clip seen by each stage
        self.stage_segments = [
            num_segments
        ] + [num_segments // 2 if temporal_pool else num_segments] * (
            kwargs.get('num_stages', 4) - 1)
        self.num_segments = num_segments
        self.is_shift = is_shift
        self.shift_div = shift_div
        self.shift_place = shift_place
        self.non_local = non_local
        self.non_local_cfg = non_local_cfg
        self.pretrained2d = pretrained2d
        self.temporal_pool = temporal_pool  # mmaction's flag
        super().__init__(depth=depth, **kwargs)
        #: the TemporalPool that halves the segments before stage 2
        self.segment_pool = pool

    def adapt_spec(self, spec: BackboneSpec) -> BackboneSpec:
        """Each block's temporal shift and non-local block, over the
        segments its stage sees."""
        blocks = spec.stage_blocks
        with_non_local = per_block(
            'non_local', self.non_local, blocks, by_index=True)
        # mmaction shifts every other block's branch in deep networks
        every = 2 if self.shift_place == 'blockres' and len(blocks) > 2 \
            and blocks[2] >= 23 else 1
        return spec.with_block_args(lambda i, j: dict(
            temporal_shift=dict(
                num_segments=self.stage_segments[i],
                shift_div=self.shift_div,
                place=self.shift_place)
            if self.is_shift and j % every == 0 else None,
            non_local_cfg=dict(
                self.non_local_cfg,
                type='SegmentNonLocal',
                num_segments=self.stage_segments[i])
            if self.non_local_cfg and with_non_local[i][j] else None))

    def forward_stage(self, index: int, x: torch.Tensor) -> torch.Tensor:
        """The stage; with ``temporal_pool``, stage 2 starts by halving the
        segments."""
        if index == 1 and self.segment_pool is not None:
            x = self.segment_pool(x)
        return super().forward_stage(index, x)


@MODELS.register_module()
class ITANet(IResNetAction):
    """TANet with iResNet blocks (mmaction's TANet, Liu et al. 2021):
    mmaction's temporal adaptive module (TAM) after the first conv (and its
    norm and activation) of every block, given as a plugin at
    ``after_conv1``; parameter names ``layerX.Y.tam.*``.

    Args:
        num_segments (int): frames per clip (TAM needs at least 3).
        tam_cfg (dict, optional): TAM's other arguments.
        **kwargs: :class:`IResNetAction` arguments (``plugins`` too).
    """

    def __init__(self,
                 depth: Optional[int] = 50,
                 num_segments: int = 8,
                 tam_cfg: Optional[dict] = None,
                 plugins: Optional[list] = None,
                 **kwargs):
        if num_segments < 3:
            raise ValueError('the temporal adaptive module needs '
                             f'num_segments >= 3, got {num_segments}')
        require('mmaction')
        from mmaction.models.common import TAM
        self.num_segments = num_segments
        tam = dict(
            cfg=dict(type=TAM, num_segments=num_segments, **(tam_cfg or {})),
            position='after_conv1')
        super().__init__(
            depth=depth, plugins=list(plugins or []) + [tam], **kwargs)


@MODELS.register_module()
class IC2D(IResNetAction):
    """C2D with iResNet (mmaction's C2D): every frame of a clip through the
    2D network, and a (2, 1, 1) / 2 max-pool in time after stage 1. Input
    ``(N, C, T, H, W)``, outputs ``(N, C, T', H', W')``. As everywhere in
    iResNet, the stem pool's spatial stride (here mmaction's (1, 3, 3) pool)
    moves into stage 1."""

    def __init__(self, depth: Optional[int] = 50, **kwargs):
        super().__init__(depth=depth, **kwargs)
        self.pool_t = nn.MaxPool3d((2, 1, 1), stride=(2, 1, 1))

    def _validate_input(self, x: torch.Tensor):
        if x.dim() != 5:
            raise ValueError(f'{type(self).__name__} expects clips (N, C, T, '
                             f'H, W), got shape {tuple(x.shape)}')
        super()._validate_input(to_frames(x))

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        """Every frame of the clips through the 2D stem."""
        return to_clips(super().forward_stem(to_frames(x)), x.shape[2])

    def forward_stage(self, index: int, x: torch.Tensor) -> torch.Tensor:
        """Every frame through the 2D stage; after stage 1, the time pool."""
        x = to_clips(super().forward_stage(index, to_frames(x)), x.shape[2])
        return self.pool_t(x) if index == 0 else x


#: counterparts also registered in mmaction2's own registry, so that the
#: scoped names of its detection configs (``mmaction.IResNet3dSlowOnly``)
#: find them: a scoped name is looked up in that registry alone
MMACTION_TYPES = ('IResNet3d', 'IResNet3dSlowOnly', 'IResNet3dPathway',
                  'IResNet3dSlowFast', 'IResNet3dCSN', 'IResNet2Plus1d',
                  'IRGBPoseConv3D', 'IResNetTSM', 'ITANet', 'IC2D')


def register_in_mmaction() -> bool:
    """Register :class:`IResNetAction` as ``IResNet`` in mmaction2's
    registry, and the video counterparts (:data:`MMACTION_TYPES`) under
    their names, when a supported mmaction2 is installed; returns whether
    it did."""
    if importlib.util.find_spec('mmaction') is None:
        return False
    try:
        require('mmaction')
    except ImportError as e:
        MMLogger.get_current_instance().warning(
            f'mmaction configs will not find the mmaction flavour of '
            f'IResNet: {e}')
        return False
    from mmaction.registry import MODELS as ACTION_MODELS
    ACTION_MODELS.register_module(
        name='IResNet', module=IResNetAction, force=True)
    for name in MMACTION_TYPES:
        ACTION_MODELS.register_module(
            name=name, module=MODELS.get(name), force=True)
    return True
