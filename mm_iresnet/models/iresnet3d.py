"""IResNet3d: the inflated 3D iResNet, a drop-in for mmaction2's ResNet3d."""
import math
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.registry import MODELS

from ..checkpoint import load_state_dict_file
from .iresnet import IResNet
from .stem import StemSpec

__all__ = ['IResNet3d', 'IResNet3dSlowOnly']


def _expand(name: str, value, count: int, where: str = '') -> tuple:
    """An int for every entry, or exactly ``count`` entries."""
    value = (value, ) * count if isinstance(value, int) else tuple(value)
    if len(value) != count:
        raise ValueError(f'{name}{where} has {len(value)} entries ({value}) '
                         f'but needs {count}: give one per '
                         f'{"block" if where else "stage"}')
    return value


def _per_stage(name: str, value, num_stages: int) -> tuple:
    return _expand(name, value, num_stages)


def _per_block(name: str, value, num_blocks: int, stage: int) -> tuple:
    return _expand(name, value, num_blocks, f' of stage {stage + 1}')


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
        if lateral:
            raise ValueError('lateral=True asks for SlowFast lateral '
                             'connections, which IResNet3d does not build; '
                             'use lateral=False (SlowOnly)')
        if inflate_style not in ('3x1x1', '3x3x3'):
            raise ValueError("inflate_style must be '3x1x1' or '3x3x3', got "
                             f'{inflate_style!r}')
        if pretrained is not None and not isinstance(pretrained, str):
            raise TypeError('pretrained must be a str or None')
        if pretrained and init_cfg:
            raise ValueError('pretrained and init_cfg cannot be specified at '
                             'the same time')
        stem_spec = self.translate_stem(
            conv1_kernel, conv1_stride_s, conv1_stride_t, pool1_stride_s,
            pool1_stride_t, with_pool1, deep_stem, cifar_stem, stem_pool,
            stem_channels or base_channels)
        self.pretrained = pretrained
        self.pretrained2d = pretrained2d
        self.temporal_strides = _per_stage('temporal_strides',
                                           temporal_strides, num_stages)
        self.conv1_kernel = tuple(conv1_kernel)
        self.conv1_stride_s = conv1_stride_s
        self.conv1_stride_t = conv1_stride_t
        self.pool1_stride_s = pool1_stride_s
        self.pool1_stride_t = pool1_stride_t
        self.with_pool1 = with_pool1
        self.with_pool2 = with_pool2
        self.stage_inflations = _per_stage('inflate', inflate, num_stages)
        self.inflate_style = inflate_style
        self.non_local_stages = _per_stage('non_local', non_local,
                                           num_stages)
        self.non_local_cfg = non_local_cfg
        super().__init__(
            depth=depth,
            in_channels=in_channels,
            base_channels=base_channels,
            num_stages=num_stages,
            strides=spatial_strides,
            dilations=dilations,
            out_indices=out_indices,
            style=style,
            frozen_stages=frozen_stages,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            norm_eval=norm_eval,
            with_cp=with_cp,
            zero_init_residual=zero_init_residual,
            init_cfg=init_cfg,
            stage_blocks=stage_blocks,
            stem_spec=stem_spec,
            **kwargs)
        if with_pool2:
            self.pool2 = nn.MaxPool3d(kernel_size=(2, 1, 1), stride=(2, 1, 1))

    @property
    def spatial_strides(self) -> tuple:
        """mmaction's name for the stage strides."""
        return self.strides

    # ------------------------------------------------------------ layout
    @staticmethod
    def translate_stem(conv1_kernel, conv1_stride_s, conv1_stride_t,
                       pool1_stride_s, pool1_stride_t, with_pool1,
                       deep_stem, cifar_stem, stem_pool,
                       channels) -> StemSpec:
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
            kind=kind, channels=channels, kernel=kh if kind == 'conv' else 3,
            stride=conv1_stride_s, pool=pool, pool_stride=pool1_stride_s,
            time_kernel=kt, time_stride=conv1_stride_t,
            time_pool_stride=pool1_stride_t if with_pool1 else 1)

    def _temporal_kernels(self, inflated: bool) -> Tuple[int, ...]:
        if self.block == 'basic':
            return (3, 3) if inflated else (1, 1)
        if not inflated:
            return (1, 1, 1)
        return (3, 1, 1) if self.inflate_style == '3x1x1' else (1, 3, 1)

    def _block_extra_args(self, stage_index: int, block_index: int) -> dict:
        num_blocks = self.stage_blocks[stage_index]
        inflate = _per_block('inflate', self.stage_inflations[stage_index],
                             num_blocks, stage_index)
        non_local = _per_block('non_local',
                               self.non_local_stages[stage_index],
                               num_blocks, stage_index)
        return dict(
            temporal_kernels=self._temporal_kernels(
                inflate[block_index] == 1),
            temporal_stride=self.temporal_strides[stage_index]
            if block_index == 0 else 1,
            non_local_cfg=dict(self.non_local_cfg)
            if non_local[block_index] == 1 else None)

    def after_stage(self, index: int, x: torch.Tensor) -> torch.Tensor:
        if index == 0 and self.with_pool2:
            x = self.pool2(x)
        return x

    @property
    def total_temporal_stride(self) -> int:
        """Input frames per output frame of the last stage."""
        pool = self.pool1_stride_t if self.with_pool1 else 1
        return self.conv1_stride_t * pool * math.prod(
            self.temporal_strides) * (2 if self.with_pool2 else 1)

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
            t = (frames - spec.time_kernel + 2 * (
                (spec.time_kernel - 1) // 2)) // spec.time_stride + 1
            t = (t - 1) // spec.time_pool_stride + 1
            t = (t - 1) // self.temporal_strides[0] + 1
            if t >= 2:
                return frames
            frames += 1

    def _check_input(self, x: torch.Tensor):
        super()._check_input(x)
        if x.shape[2] < self.min_frames:
            raise ValueError(
                f'{type(self).__name__} input has {x.shape[2]} frames; it '
                f'needs at least {self.min_frames} (pool2 halves the frames '
                'left after conv1_stride_t, pool1_stride_t and stage 1\'s '
                'temporal stride, and needs two of them): sample longer '
                'clips or set with_pool2=False')

    def forward(self, x: torch.Tensor
                ) -> Union[torch.Tensor, Tuple[torch.Tensor, ...]]:
        """A tensor when one stage is asked for, else a tuple."""
        outs = super().forward(x)
        return outs[0] if len(outs) == 1 else outs

    # ----------------------------------------------------------- weights
    def _weights_source(self):
        """(path, is_2d) of the checkpoint to start from, or None."""
        if self.pretrained:
            return self.pretrained, self.pretrained2d
        paths = self._pretrained_checkpoints()
        return (paths[0], self.pretrained2d) if paths else None

    def init_weights(self):
        """Default init, then the 2D checkpoint inflated (or a 3D one
        loaded) on top; keys not loaded are logged."""
        source = self._weights_source()
        if source is None:
            return super().init_weights()
        path, is_2d = source
        self._check_checkpoint(path)
        self.init_cfg = self._default_init_cfg()
        super().init_weights()
        logger = MMLogger.get_current_instance()
        if not is_2d:
            from mmengine.runner import load_checkpoint
            logger.info(f'load 3D weights from {path}')
            load_checkpoint(self, path, map_location='cpu', strict=False,
                            logger=logger)
            return
        from .inflate import inflate_state_dict
        report = inflate_state_dict(self, load_state_dict_file(path))
        logger.info(f'inflated 2D weights from {path}: '
                    f'{len(report.inflated)} conv kernels inflated, '
                    f'{len(report.copied)} tensors copied')
        for title, keys in (('3D keys not in the 2D checkpoint (kept their '
                             'initialisation)', report.missing),
                            ('keys of mismatched shape (not loaded)',
                             report.mismatched),
                            ('2D keys not used', report.unused)):
            if keys:
                logger.warning(f'{title}: {", ".join(keys)}')
        self.inflation_report = report


@MODELS.register_module()
class IResNet3dSlowOnly(IResNet3d):
    """SlowOnly defaults (as mmaction's ResNet3dSlowOnly): stem kernel
    (1, 7, 7), no temporal striding, inflation in stages 3 and 4 only, no
    pool2."""

    def __init__(self,
                 conv1_kernel: Sequence[int] = (1, 7, 7),
                 conv1_stride_t: int = 1,
                 pool1_stride_t: int = 1,
                 inflate: Sequence = (0, 0, 1, 1),
                 with_pool2: bool = False,
                 **kwargs):
        super().__init__(
            conv1_kernel=conv1_kernel,
            conv1_stride_t=conv1_stride_t,
            pool1_stride_t=pool1_stride_t,
            inflate=inflate,
            with_pool2=with_pool2,
            **kwargs)
