"""The network as data, and the translation of mmdet's arguments into it.

:class:`BackboneSpec` says everything :class:`~.iresnet.IResNet` builds: the
stem (:class:`~.stem.StemSpec`), the block kind and layout, and per stage a
:class:`StageSpec` with its widths, strides, groups, extras such as DCN and
plugins, and the extra :class:`~.blocks.ResBlock` arguments of each block.
Each argument of mmdet's ``ResNet`` (and of the family) is translated once,
here, by :func:`mmdet_spec`; the video networks translate mmaction's
arguments on top of it (:mod:`~.iresnet3d`: temporal kernels and strides per
block; :mod:`~.slowfast`: the lateral inputs; :mod:`~.action2d`: the
temporal shift).
"""
import inspect
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

from .args import per_stage
from .blocks import block_expansion
from .stem import StemSpec

__all__ = [
    'ARCH_SETTINGS', 'StageSpec', 'BackboneSpec', 'stages_of', 'mmdet_spec',
    'same_named_arguments'
]

#: depth -> (block kind, blocks per stage), the official set
ARCH_SETTINGS = {
    18: ('basic', (2, 2, 2, 2)),
    34: ('basic', (3, 4, 6, 3)),
    50: ('bottleneck', (3, 4, 6, 3)),
    101: ('bottleneck', (3, 4, 23, 3)),
    152: ('bottleneck', (3, 8, 36, 3)),
    200: ('bottleneck', (3, 24, 36, 3)),
    302: ('bottleneck', (4, 34, 58, 4)),
    404: ('bottleneck', (4, 46, 80, 4)),
    1001: ('bottleneck', (4, 155, 170, 4)),
}


class StageSpec(NamedTuple):
    """One stage: a start block, then ``len(blocks) - 1`` blocks."""

    #: channels entering the stage (a SlowFast pathway adds its laterals')
    in_channels: int
    #: mmdet's planes: the stage outputs ``planes * expansion`` channels
    planes: int
    #: width of the inner (3x3, possibly grouped) conv of a bottleneck
    mid_channels: int
    #: mmdet's stride of the stage (stage 1 also takes the stem's moved one)
    stride: int
    dilation: int
    groups: int
    dcn: Optional[dict]
    plugins: Tuple[dict, ...]
    #: extra :class:`ResBlock` arguments of each block (temporal kernels and
    #: strides, non-local, temporal shift); their number is the block count
    blocks: Tuple[dict, ...]
    #: dilation of each block's 3x3 conv where it is not ``dilation``
    #: (mmseg's ``contract_dilation`` and ``multi_grid``); empty: ``dilation``
    block_dilations: Tuple[int, ...] = ()

    def block_dilation(self, index: int) -> int:
        """Dilation of block ``index``'s 3x3 conv."""
        return self.block_dilations[index] if self.block_dilations \
            else self.dilation


class BackboneSpec(NamedTuple):
    stem: StemSpec
    #: 'basic', 'bottleneck' or 'bottleneck_ip'
    block: str
    expansion: float
    ordering: str
    projection: str
    style: str
    stages: Tuple[StageSpec, ...]

    @property
    def stage_blocks(self) -> Tuple[int, ...]:
        return tuple(len(s.blocks) for s in self.stages)

    def out_channels(self, index: int) -> int:
        """Channels stage ``index`` outputs."""
        return int(self.stages[index].planes * self.expansion)

    def with_block_args(self, extra: Callable[[int, int],
                                              dict]) -> 'BackboneSpec':
        """A copy whose block ``j`` of stage ``i`` also gets the arguments
        ``extra(i, j)``."""
        return self._replace(
            stages=tuple(
                stage._replace(
                    blocks=tuple(
                        dict(args, **extra(i, j))
                        for j, args in enumerate(stage.blocks)))
                for i, stage in enumerate(self.stages)))

    def with_stage_inputs(self, added: Sequence[int]) -> 'BackboneSpec':
        """A copy whose stage ``i`` takes ``added[i]`` more input
        channels."""
        return self._replace(
            stages=tuple(
                stage._replace(in_channels=stage.in_channels + extra)
                for stage, extra in zip(self.stages, added)))


def stages_of(depth: Optional[int],
              stage_blocks: Optional[Sequence[int]] = None,
              num_stages: int = 4,
              block: Optional[str] = None) -> Tuple[str, tuple]:
    """(block kind, blocks per stage) of a depth of :data:`ARCH_SETTINGS`
    or of explicit ``stage_blocks``."""
    if not 1 <= num_stages <= 4:
        raise ValueError(f'num_stages must be 1..4, got {num_stages}')
    if depth not in ARCH_SETTINGS and (depth is not None
                                       or stage_blocks is None):
        raise KeyError(
            f'invalid depth {depth!r}; valid depths: {sorted(ARCH_SETTINGS)}'
            ', or depth=None with explicit stage_blocks')
    default_block, table = ARCH_SETTINGS.get(depth, ('bottleneck', None))
    if stage_blocks is None:
        stage_blocks = tuple(table)[:num_stages]
    stage_blocks = per_stage('stage_blocks', stage_blocks, num_stages)
    if any(int(n) < 1 for n in stage_blocks):
        raise ValueError(f'stage_blocks {stage_blocks} must all be >= 1')
    return block or default_block, stage_blocks


def _stem(stem_channels, base_channels, deep_stem, cifar_stem,
          stem_pool) -> StemSpec:
    if cifar_stem and (deep_stem or stem_pool):
        raise ValueError('cifar_stem replaces the stem: it cannot be '
                         'combined with deep_stem or stem_pool')
    return StemSpec(
        kind='cifar' if cifar_stem else 'deep' if deep_stem else 'conv',
        channels=stem_channels or base_channels,
        kernel=3 if cifar_stem or deep_stem else 7,
        stride=1 if cifar_stem else 2,
        pool='none' if cifar_stem else 'kept' if stem_pool else 'moved')


def _stage_plugins(plugins: List[dict],
                   num_stages: int) -> List[Tuple[dict, ...]]:
    """Each stage's plugins (mmdet's format, ``stages`` removed)."""
    if not isinstance(plugins, (list, tuple)):
        raise TypeError(f'plugins must be a list of dicts, got {plugins}')
    stage_plugins = [[] for _ in range(num_stages)]
    for plugin in plugins:
        plugin = dict(plugin)
        stages = per_stage(f"plugin {plugin['cfg']} 'stages'",
                           plugin.pop('stages', True), num_stages)
        for i in range(num_stages):
            if stages[i]:
                stage_plugins[i].append(plugin)
    return [tuple(p) for p in stage_plugins]


def _block_dilations(dilation: int, num_blocks: int, contract: bool,
                     multi_grid: Optional[Sequence[int]]) -> Tuple[int, ...]:
    """Each block's dilation as mmseg's ``ResLayer`` gives it: ``multi_grid``
    (last stage only) replaces the stage's dilation block by block (read by
    index: at least one entry per block); otherwise ``contract_dilation``
    halves the first block's dilation where it is above 1."""
    if multi_grid is not None:
        if not isinstance(multi_grid, (list, tuple)):
            raise TypeError('multi_grid must be a sequence of per-block '
                            f'dilations of the last stage, got {multi_grid!r}')
        if len(multi_grid) < num_blocks:
            raise ValueError(
                f'multi_grid has {len(multi_grid)} entries '
                f'({tuple(multi_grid)}) but the last stage has {num_blocks} '
                'blocks: give at least one per block')
        return tuple(int(d) for d in multi_grid[:num_blocks])
    first = dilation // 2 if contract and dilation > 1 else dilation
    return (first, ) + (dilation, ) * (num_blocks - 1)


def same_named_arguments(function: Callable, scope: Dict) -> Dict:
    """The entries of ``scope`` (a constructor's ``locals()``) named as a
    parameter of ``function``: how a constructor whose arguments include
    ``function``'s passes them on without listing each twice."""
    return {
        name: scope[name]
        for name in inspect.signature(function).parameters if name in scope
    }


def mmdet_spec(depth: Optional[int] = 50,
               stem_channels: Optional[int] = None,
               base_channels: int = 64,
               num_stages: int = 4,
               strides: Sequence[int] = (1, 2, 2, 2),
               dilations: Sequence[int] = (1, 1, 1, 1),
               style: str = 'pytorch',
               deep_stem: bool = False,
               avg_down: bool = False,
               dcn: Optional[dict] = None,
               stage_with_dcn: Sequence[bool] = (False, False, False, False),
               plugins: Optional[List[dict]] = None,
               stage_blocks: Optional[Sequence[int]] = None,
               block: Optional[str] = None,
               ordering: str = 'resstage',
               projection: str = 'maxpool',
               stem_pool: bool = False,
               cifar_stem: bool = False,
               groups=1,
               base_width: Optional[int] = 4,
               expansion: Optional[float] = None,
               stem: Optional[StemSpec] = None,
               multi_grid: Optional[Sequence[int]] = None,
               contract_dilation: bool = False) -> BackboneSpec:
    """The network mmdet's ``ResNet`` arguments (with mmseg's
    ``multi_grid`` and ``contract_dilation``) and the family's describe (see
    :class:`~.iresnet.IResNet` for each); ``stem`` replaces the stem
    arguments (the 3D network translates its own)."""
    block, blocks = stages_of(depth, stage_blocks, num_stages, block)
    if dcn is not None and not isinstance(dcn, dict):
        raise TypeError(f'dcn must be a dict, got {type(dcn)}')
    stem = stem or _stem(stem_channels, base_channels, deep_stem, cifar_stem,
                         stem_pool)
    expansion = block_expansion(block) if expansion is None else expansion
    strides = per_stage('strides', strides, num_stages)
    dilations = per_stage('dilations', dilations, num_stages)
    stage_groups = per_stage('groups', groups, num_stages)
    with_dcn = per_stage('stage_with_dcn', stage_with_dcn, num_stages) \
        if dcn is not None else (False, ) * num_stages
    stage_plugins = _stage_plugins(plugins or [], num_stages)
    stages, in_channels = [], stem.channels
    for i, n in enumerate(blocks):
        planes, g = base_channels * 2**i, stage_groups[i]
        # ResNeXt: base_width channels per group at base_channels planes;
        # iResGroup (base_width None): as wide as planes whatever the groups
        mid = planes if g == 1 or base_width is None else \
            int(planes * base_width / base_channels) * g
        stages.append(
            StageSpec(
                in_channels=in_channels,
                planes=planes,
                mid_channels=mid,
                stride=strides[i],
                dilation=dilations[i],
                groups=g,
                dcn=dcn if with_dcn[i] else None,
                plugins=stage_plugins[i],
                blocks=tuple({} for _ in range(n)),
                block_dilations=_block_dilations(
                    dilations[i], n, contract_dilation,
                    multi_grid if i == num_stages - 1 else None)))
        in_channels = int(planes * expansion)
    return BackboneSpec(
        stem=stem,
        block=block,
        expansion=expansion,
        ordering=ordering,
        projection='avgpool' if avg_down else projection,
        style=style,
        stages=tuple(stages))
