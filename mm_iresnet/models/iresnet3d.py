"""IResNet3d: the inflated 3D iResNet, a drop-in for mmaction2's ResNet3d."""
import inspect
from typing import Optional, Sequence

import torch
import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm

from ..checkpoint import load_state_dict_file
from ..deps import require
from .args import per_block, per_stage
from .inflate import inflate_state_dict
from .iresnet import IResNet, split_pretrained
from .resnet_weights import check_not_resnet_weights
from .spec import BackboneSpec, mmdet_spec, stages_of
from .stem import StemSpec

__all__ = [
    'IResNet3d', 'IResNet3dSlowOnly', 'SLOWONLY_DEFAULTS', 'IResNet3dCSN',
    'IResNet2Plus1d'
]

#: the arguments mmdet_spec translates that IResNet3d passes through
_SPEC_ARGS = set(inspect.signature(mmdet_spec).parameters)


@MODELS.register_module()
class IResNet3d(IResNet):
    """Inflated 3D iResNet with mmaction2's ``ResNet3d`` signature.

    The 2D network with time added: the same :class:`ResBlock`, ResStage
    layouts and improved projection shortcut (MaxPool3d with kernel (1,3,3),
    or (3,3,3) when the block strides in time, then a 1x1x1 conv and BN3d).

    mmaction's stem max-pool (kernel (1, 3, 3)) does not exist in iResNet:
    with ``with_pool1`` its spatial stride ``pool1_stride_s`` moves into the
    first stage's start block (its strided conv and its shortcut max-pool);
    its temporal stride ``pool1_stride_t``, which in mmaction only subsamples
    frames (kernel 1 in time), stays in the stem and does just that. Output
    sizes in space and time are those of mmaction's ResNet3d. ``with_pool2``
    keeps its meaning: a temporal max-pool (2,1,1) after the first stage.
    ``stem_pool=True`` restores mmaction's stem max-pool instead.

    Outputs: a tensor when ``out_indices`` names one stage (mmaction's
    convention), else a tuple. Weights: ``pretrained`` (or an
    ``init_cfg=dict(type='Pretrained', checkpoint=...)``) with
    ``pretrained2d=True`` inflates a 2D IResNet checkpoint (see
    :mod:`~mm_iresnet.models.inflate`), logging the keys it did not load;
    with ``pretrained2d=False`` it loads a 3D checkpoint.

    Args beyond :class:`IResNet`'s family arguments (``ordering``,
    ``projection``, ``block``, ``groups``...; mmdet-only ones such as
    ``dcn`` and ``plugins`` also pass through):
        spatial_strides / temporal_strides (Sequence[int]): per stage.
        conv1_kernel (Sequence[int]): stem conv kernel (t, h, w).
        conv1_stride_s / conv1_stride_t (int): stem conv strides.
        pool1_stride_s / pool1_stride_t (int): strides of mmaction's stem
            pool (see above).
        deep_stem / cifar_stem / stem_pool / stem_channels: the stem
            variants of :class:`IResNet`; ``deep_stem`` and ``cifar_stem``
            use ``conv1_kernel``'s temporal size and ``conv1_stride_t``
            (see :meth:`translate_stem`).
        with_pool1 / with_pool2 (bool): see above.
        inflate (Sequence[int | Sequence[int]]): per stage, or per block,
            1 to give the block a temporal kernel.
        inflate_style (str): '3x1x1' (bottleneck conv1 temporal, kernel
            (3,1,1)) or '3x3x3' (conv2 (3,3,3)); basic blocks inflate both
            convs to (3,3,3).
        non_local (Sequence[int | Sequence[int]]): per stage or per block, 1
            adds mmaction's NonLocal3d after the block.
        non_local_cfg (dict): its arguments.
        pretrained2d (bool): ``pretrained`` is a 2D checkpoint to inflate.
        lateral (bool): accepted for ResNet3dSlowOnly configs; must be False.
    """

    dim = 3
    single_output_as_tensor = True
    pretrained_is_deprecated = False
    #: whether ``lateral=True`` is honoured (SlowFast's pathway)
    takes_laterals = False

    def __init__(self,
                 depth: Optional[int] = 50,
                 pretrained: Optional[str] = None,
                 stage_blocks: Optional[Sequence[int]] = None,
                 pretrained2d: bool = True,
                 in_channels: int = 3,
                 num_stages: int = 4,
                 base_channels: int = 64,
                 out_indices: Sequence[int] = (3, ),
                 spatial_strides: Sequence[int] = (1, 2, 2, 2),
                 temporal_strides: Sequence[int] = (1, 1, 1, 1),
                 dilations: Sequence[int] = (1, 1, 1, 1),
                 conv1_kernel: Sequence[int] = (3, 7, 7),
                 conv1_stride_s: int = 2,
                 conv1_stride_t: int = 1,
                 pool1_stride_s: int = 2,
                 pool1_stride_t: int = 1,
                 with_pool1: bool = True,
                 with_pool2: bool = True,
                 style: str = 'pytorch',
                 frozen_stages: int = -1,
                 inflate: Sequence = (1, 1, 1, 1),
                 inflate_style: str = '3x1x1',
                 conv_cfg: dict = dict(type='Conv3d'),
                 norm_cfg: dict = dict(type='BN3d', requires_grad=True),
                 act_cfg: dict = dict(type='ReLU', inplace=True),
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 non_local: Sequence = (0, 0, 0, 0),
                 non_local_cfg: dict = dict(),
                 zero_init_residual: bool = True,
                 init_cfg=None,
                 lateral: bool = False,
                 deep_stem: bool = False,
                 cifar_stem: bool = False,
                 stem_pool: bool = False,
                 stem_channels: Optional[int] = None,
                 **kwargs):
        if lateral and not self.takes_laterals:
            raise ValueError('lateral=True asks for SlowFast lateral '
                             'connections, which IResNet3d does not build; '
                             'use lateral=False (SlowOnly)')
        self.lateral = lateral
        #: the checkpoint to start from (``pretrained`` or the init_cfg's)
        self.pretrained, init_cfg = split_pretrained(pretrained, init_cfg)
        self.pretrained2d = pretrained2d
        self.with_pool2 = with_pool2
        shape = {k: kwargs.pop(k) for k in list(kwargs) if k in _SPEC_ARGS}
        spec = mmdet_spec(
            depth=depth,
            base_channels=base_channels,
            num_stages=num_stages,
            strides=spatial_strides,
            dilations=dilations,
            style=style,
            stage_blocks=stage_blocks,
            stem=self.translate_stem(conv1_kernel, conv1_stride_s,
                                     conv1_stride_t, pool1_stride_s,
                                     pool1_stride_t, with_pool1, deep_stem,
                                     cifar_stem, stem_pool, stem_channels
                                     or base_channels),
            **shape)
        super().__init__(
            depth=depth,
            in_channels=in_channels,
            out_indices=out_indices,
            frozen_stages=frozen_stages,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            norm_eval=norm_eval,
            with_cp=with_cp,
            zero_init_residual=zero_init_residual,
            init_cfg=init_cfg,
            spec=self.translate_time(spec, temporal_strides, inflate,
                                     inflate_style, non_local, non_local_cfg),
            **kwargs)
        if with_pool2:
            self.pool2 = nn.MaxPool3d(kernel_size=(2, 1, 1), stride=(2, 1, 1))

    @property
    def spatial_strides(self) -> tuple:
        """mmaction's name for the stage strides."""
        return self.strides

    @property
    def temporal_strides(self) -> tuple:
        """The temporal stride of each stage (its start block's)."""
        return tuple(s.blocks[0]['temporal_stride'] for s in self.spec.stages)

    # ------------------------------------------------------------ layout
    @staticmethod
    def translate_time(spec: BackboneSpec, temporal_strides: Sequence[int],
                       inflate: Sequence, inflate_style: str,
                       non_local: Sequence,
                       non_local_cfg: dict) -> BackboneSpec:
        """mmaction's per-stage / per-block temporal arguments as each
        block's extra arguments: its inflation, its temporal stride (the
        start block's) and its non-local block."""
        blocks = spec.stage_blocks
        temporal_strides = per_stage('temporal_strides', temporal_strides,
                                     len(blocks))
        inflated = per_block('inflate', inflate, blocks, by_index=True)
        with_non_local = per_block(
            'non_local', non_local, blocks, by_index=True)
        return spec.with_block_args(lambda i, j: dict(
            inflate_style=inflate_style if inflated[i][j] == 1 else None,
            temporal_stride=temporal_strides[i] if j == 0 else 1,
            non_local_cfg=dict(non_local_cfg)
            if with_non_local[i][j] == 1 else None))

    @staticmethod
    def translate_stem(conv1_kernel, conv1_stride_s, conv1_stride_t,
                       pool1_stride_s, pool1_stride_t, with_pool1, deep_stem,
                       cifar_stem, stem_pool, channels) -> StemSpec:
        """mmaction's stem arguments as a :class:`StemSpec`.

        The stem pool's spatial stride moves into stage 1 (``stem_pool=True``
        keeps mmaction's pool); its temporal stride stays in the stem, where
        mmaction applies it (kernel 1 in time: frames are subsampled).
        ``deep_stem`` / ``cifar_stem`` replace the 7x7 conv by 3x3 convs and
        take ``conv1_kernel``'s temporal size and ``conv1_stride_t``.
        """
        conv1_kernel = tuple(conv1_kernel)
        if len(conv1_kernel) != 3:
            raise ValueError(f'conv1_kernel must be (t, h, w), got '
                             f'{conv1_kernel}')
        kt, kh, kw = conv1_kernel
        if kh != kw:
            raise ValueError(f'conv1_kernel {conv1_kernel}: the spatial '
                             'kernel must be square')
        if cifar_stem and (deep_stem or stem_pool):
            raise ValueError('cifar_stem replaces the stem: it cannot be '
                             'combined with deep_stem or stem_pool')
        kind = 'cifar' if cifar_stem else 'deep' if deep_stem else 'conv'
        if kind != 'conv' and kh not in (3, 7):
            raise ValueError(
                f'{kind}_stem uses 3x3 spatial kernels in place of the 7x7 '
                f'conv: conv1_kernel={conv1_kernel} asks for {kh}x{kw}; give '
                f'conv1_kernel=({kt}, 3, 3) (its temporal size {kt} and '
                'conv1_stride_t are used)')
        if cifar_stem and (conv1_stride_s != 1 or
                           (with_pool1 and pool1_stride_s != 1)):
            raise ValueError(
                'cifar_stem has spatial stride 1 and no spatial pool: set '
                'conv1_stride_s=1 and with_pool1=False (or pool1_stride_s=1)'
                f'; got conv1_stride_s={conv1_stride_s}, with_pool1='
                f'{with_pool1}, pool1_stride_s={pool1_stride_s}')
        pool = 'none' if cifar_stem or not with_pool1 else \
            'kept' if stem_pool else 'moved'
        return StemSpec(
            kind=kind,
            channels=channels,
            kernel=kh if kind == 'conv' else 3,
            stride=conv1_stride_s,
            pool=pool,
            pool_stride=pool1_stride_s,
            time_kernel=kt,
            time_stride=conv1_stride_t,
            time_pool_stride=pool1_stride_t if with_pool1 else 1)

    def forward_stage(self, index: int, x: torch.Tensor) -> torch.Tensor:
        """The stage, then mmaction's pool2 after the first one."""
        x = super().forward_stage(index, x)
        if index == 0 and self.with_pool2:
            x = self.pool2(x)
        return x

    @property
    def min_frames(self) -> int:
        """Fewest input frames the network turns into an output: ``pool2``
        (kernel 2 in time) needs two frames out of stage 1; without it one
        frame is enough, as in mmaction's ResNet3d."""
        if not self.with_pool2:
            return 1
        spec = self.stem_spec
        frames = 1
        while True:
            t = (frames - spec.time_kernel + 2 *
                 ((spec.time_kernel - 1) // 2)) // spec.time_stride + 1
            t = (t - 1) // spec.time_pool_stride + 1
            t = (t - 1) // self.temporal_strides[0] + 1
            if t >= 2:
                return frames
            frames += 1

    def _validate_input(self, x: torch.Tensor):
        super()._validate_input(x)
        if x.shape[2] < self.min_frames:
            raise ValueError(
                f'{type(self).__name__} input has {x.shape[2]} frames; it '
                f'needs at least {self.min_frames} (pool2 halves the frames '
                'left after conv1_stride_t, pool1_stride_t and stage 1\'s '
                'temporal stride, and needs two of them): sample longer '
                'clips or set with_pool2=False')

    # ----------------------------------------------------------- weights
    @property
    def initial_checkpoint(self) -> Optional[str]:
        return self.pretrained

    def load_initial_weights(self):
        """The default initialisation, then the checkpoint on top: a 2D one
        inflated (``pretrained2d``, keys not loaded are logged) or a 3D one
        loaded."""
        super().load_initial_weights()
        if not self.pretrained:
            return
        path = self.pretrained
        logger = MMLogger.get_current_instance()
        if not self.pretrained2d:
            from mmengine.runner import load_checkpoint
            logger.info(f'load 3D weights from {path}')
            load_checkpoint(
                self, path, map_location='cpu', strict=False, logger=logger)
            return
        state_dict = load_state_dict_file(path)
        report = inflate_state_dict(
            self,
            state_dict,
            pad_inputs=self.lateral,
            check=check_not_resnet_weights)
        logger.info(f'inflated 2D weights from {path}: '
                    f'{len(report.inflated)} conv kernels inflated, '
                    f'{len(report.copied)} tensors copied')
        for title, keys in (('3D keys not in the 2D checkpoint (kept their '
                             'initialisation)', report.missing),
                            ('keys of mismatched shape (not loaded)',
                             report.mismatched), ('2D keys not used',
                                                  report.unused)):
            if keys:
                logger.warning(f'{title}: {", ".join(keys)}')
        self.inflation_report = report


#: what mmaction's ResNet3dSlowOnly changes in ResNet3d's defaults
SLOWONLY_DEFAULTS = dict(
    conv1_kernel=(1, 7, 7),
    conv1_stride_t=1,
    pool1_stride_t=1,
    inflate=(0, 0, 1, 1),
    with_pool2=False)


@MODELS.register_module()
class IResNet3dSlowOnly(IResNet3d):
    """IResNet3d with SlowOnly's defaults (as mmaction's ResNet3dSlowOnly):
    stem kernel (1, 7, 7), no temporal striding, inflation in stages 3 and 4
    only, no pool2 (:data:`SLOWONLY_DEFAULTS`)."""

    def __init__(self, **kwargs):
        super().__init__(**dict(SLOWONLY_DEFAULTS, **kwargs))


@MODELS.register_module()
class IResNet3dCSN(IResNet3d):
    """Channel-separated iResNet (as mmaction's ResNet3dCSN, Tran et al.
    2019): bottlenecks whose 3x3x3 conv is channel-separated, i.e. a grouped
    conv with one group per channel, on the ResStage layout and improved
    projection.

    Args:
        bottleneck_mode (str): 'ir' (interaction-reduced: the depthwise 3x3x3
            alone) or 'ip' (interaction-preserved: a 1x1x1 conv and norm
            before it, the ``bottleneck_ip`` block).
        bn_frozen (bool): with ``norm_eval``, also freeze the norms' affine
            parameters.
        Other arguments and defaults as mmaction's ResNet3dCSN: temporal
        strides (1, 2, 2, 2), BN eps 1e-3, '3x3x3' inflation; depths 50, 101,
        152 (bottleneck blocks).
    """

    def __init__(self,
                 depth: int = 50,
                 pretrained: Optional[str] = None,
                 temporal_strides: Sequence[int] = (1, 2, 2, 2),
                 conv1_kernel: Sequence[int] = (3, 7, 7),
                 conv1_stride_t: int = 1,
                 pool1_stride_t: int = 1,
                 norm_cfg: dict = dict(
                     type='BN3d', requires_grad=True, eps=1e-3),
                 inflate_style: str = '3x3x3',
                 bottleneck_mode: str = 'ir',
                 bn_frozen: bool = False,
                 **kwargs):
        if bottleneck_mode not in ('ir', 'ip'):
            raise ValueError("bottleneck_mode must be 'ir' or 'ip', got "
                             f'{bottleneck_mode!r}')
        block, _ = stages_of(depth, kwargs.get('stage_blocks'),
                             kwargs.get('num_stages', 4))
        if block != 'bottleneck':
            raise ValueError('channel-separated networks are built of '
                             f'bottleneck blocks: depth {depth} is not')
        base = kwargs.pop('base_channels', 64)
        self.bottleneck_mode = bottleneck_mode
        self.bn_frozen = bn_frozen
        super().__init__(
            depth=depth,
            pretrained=pretrained,
            temporal_strides=temporal_strides,
            conv1_kernel=conv1_kernel,
            conv1_stride_t=conv1_stride_t,
            pool1_stride_t=pool1_stride_t,
            norm_cfg=norm_cfg,
            inflate_style=inflate_style,
            base_channels=base,
            block='bottleneck_ip' if bottleneck_mode == 'ip' else block,
            groups=tuple(base * 2**i
                         for i in range(kwargs.get('num_stages', 4))),
            base_width=None,
            **kwargs)

    def train(self, mode: bool = True):
        super().train(mode)
        if mode and self.norm_eval and self.bn_frozen:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    for param in m.parameters():
                        param.requires_grad = False
        return self


@MODELS.register_module()
class IResNet2Plus1d(IResNet3d):
    """R(2+1)D iResNet (as mmaction's ResNet2Plus1d): every 3D conv is
    mmaction's ``Conv2plus1d`` (a spatial conv, norm, ReLU, then a temporal
    conv), given as the conv type. As in mmaction, weights are not inflated
    from 2D (``pretrained2d=False``) and there is no pool2 by default
    (mmaction's R(2+1)D never applies it)."""

    def __init__(self,
                 conv_cfg: dict = dict(type='Conv2plus1d'),
                 pretrained2d: bool = False,
                 with_pool2: bool = False,
                 **kwargs):
        if pretrained2d:
            raise ValueError('R(2+1)D convs have no 2D counterpart to '
                             'inflate: use pretrained2d=False')
        conv_cfg = dict(conv_cfg)
        if conv_cfg.get('type') == 'Conv2plus1d':
            require('mmaction')
            from mmaction.models.common import Conv2plus1d
            conv_cfg['type'] = Conv2plus1d  # found whatever the scope
        super().__init__(
            conv_cfg=conv_cfg,
            pretrained2d=pretrained2d,
            with_pool2=with_pool2,
            **kwargs)
