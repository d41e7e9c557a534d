"""IResNet: the improved residual network as an mmdet-compatible backbone."""
import math
import warnings
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule, Sequential
from mmengine.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm

from ..checkpoint import (checkpoint_meta, restricted_torch_load,
                          warn_if_other_ordering)
from ..official import trained_meta
from .blocks import ResBlock, conv_specs
from .fuse import fold_named, fold_sequential
from .layers import graph_capture
from .layouts import get_layout
from .projection import build_projection
from .resnet_weights import (ResNetWeightsError, check_not_resnet_weights,
                             unfitted_keys)
from .spec import (ARCH_SETTINGS, BackboneSpec, StageSpec, mmdet_spec,
                   same_named_arguments)
from .stem import build_stem

__all__ = ['IResNet', 'split_pretrained']


def split_pretrained(pretrained: Optional[str],
                     init_cfg) -> Tuple[Optional[str], Optional[list]]:
    """(the checkpoint to start from: ``pretrained`` or the ``Pretrained``
    entry of ``init_cfg``; the other entries of ``init_cfg`` or None) --
    the one rule for both ways of naming weights."""
    if pretrained is not None and not isinstance(pretrained, str):
        raise TypeError('pretrained must be a str or None')
    cfgs = init_cfg if isinstance(init_cfg, list) else \
        [init_cfg] if init_cfg else []
    checkpoints = [
        c.get('checkpoint') for c in cfgs if c.get('type') == 'Pretrained'
    ]
    if pretrained and checkpoints:
        raise ValueError('init_cfg and pretrained cannot be specified at '
                         'the same time')
    rest = [c for c in cfgs if c.get('type') != 'Pretrained']
    return pretrained or (checkpoints[0] if checkpoints else None), \
        (rest or None)


@MODELS.register_module()
class IResNet(BaseModule):
    """Improved Residual Network backbone (Duta et al., 2020).

    A drop-in for mmdet's ``ResNet``: same arguments, same output strides
    (4/8/16/32) and channels, same module names (``conv1``, ``norm1``,
    ``layer1``..), so necks and heads need no change. Differences from ResNet:

    * **ResStage** layout per stage (``ordering='resstage'``, as the official
      code released it; see :mod:`mm_iresnet.models.layouts`);
    * **improved projection shortcut** ``MaxPool 3x3/2 -> conv1x1 -> BN``
      (``projection='maxpool'``, see :mod:`mm_iresnet.models.projection`);
    * the stem has **no max-pool**: its stride 2 moves to the first stage
      (see :mod:`mm_iresnet.models.stem`), so ``strides`` keeps mmdet's
      meaning (stride of each stage after the stem) and stage 1 really
      strides ``2 * strides[0]``.

    The constructor translates its arguments into a
    :class:`~mm_iresnet.models.spec.BackboneSpec` (:func:`~mm_iresnet.models.
    spec.mmdet_spec`) and builds that. Other orderings, projections and
    ``stem_pool=True`` give the rest of the family
    (``ordering='original', projection='conv', stem_pool=True`` is
    mmdet's ResNet, weight for weight).

    Args:
        depth (int): one of :attr:`arch_settings` (18, 34, 50, 101, 152, 200,
            302, 404, 1001), or ``None`` with ``stage_blocks``.
        in_channels (int): input image channels.
        stem_channels (int, optional): stem width, ``base_channels`` if None.
        base_channels (int): width of the first stage (planes).
        num_stages (int): 1 to 4 stages.
        strides (Sequence[int]): stride of each stage after the stem.
        dilations (Sequence[int]): dilation of each stage's 3x3 convs.
        out_indices (Sequence[int]): stages whose outputs are returned.
        style (str): 'pytorch' strides the 3x3 conv, 'caffe' the first 1x1.
        deep_stem (bool): three 3x3 convs (32-32-64 for width 64) instead of
            the 7x7 conv; like the 7x7 stem it is followed by no max-pool.
        avg_down (bool): downsampling shortcuts average-pool (kernel = stride,
            as ResNet-D) instead of max-pooling 3x3 before the 1x1 conv; with
            ``projection='conv'`` this is exactly mmdet's ``avg_down``.
        frozen_stages (int): freeze the stem and stages 1..k (-1: none).
        conv_cfg (dict, optional): conv layer config (e.g. ConvWS).
        norm_cfg (dict): norm layer config (BN, SyncBN, GN, ...).
        norm_eval (bool): keep BN layers in eval mode while training.
        dcn (dict, optional): deformable conv config for the 3x3 conv.
        stage_with_dcn (Sequence[bool]): stages that use ``dcn``.
        plugins (list[dict], optional): mmdet plugin dicts (``cfg``,
            ``position`` 'after_conv1/2/3', optional ``stages``).
        with_cp (bool): activation checkpointing per block.
        zero_init_residual (bool): start every block as its shortcut, see
            :class:`~mm_iresnet.models.blocks.ResBlock` for what is zeroed in
            each block position. Only with the default initialisation.
        pretrained (str, optional): deprecated, use ``init_cfg``.
        init_cfg (dict | list[dict], optional): mmengine init config.
        stage_blocks (Sequence[int], optional): blocks per stage, overriding
            the depth table.
        block (str, optional): 'basic' or 'bottleneck' (default: from depth).
        ordering (str): block layout, one of
            :data:`~mm_iresnet.models.layouts.ORDERINGS`.
        projection (str): 'maxpool' (iResNet), 'conv' (ResNet) or 'avgpool'.
        stem_pool (bool): ResNet's 3x3/2 max-pool after the stem.
        cifar_stem (bool): the CIFAR stem, a 3x3 stride-1 conv with no pool
            (nothing to move into stage 1): for 32x32 inputs and 3-stage
            6n+2 / 9n+2 networks (``num_stages=3``, ``strides=(1, 2, 2)``).
        groups (int | Sequence[int]): groups of the 3x3 conv, for every
            stage or per stage (ResNeXt, iResGroup); bottleneck only.
        base_width (int, optional): ResNeXt width per group at
            ``base_channels`` (the 3x3 conv is ``planes * base_width /
            base_channels * groups`` wide); ``None``: as wide as ``planes``
            whatever the groups (iResGroup).
        expansion (float, optional): out/planes ratio (default from block).
        act_cfg (dict): activation config.
        deploy (bool): build the network in deploy form (BN folded into the
            convs, see :meth:`switch_to_deploy`), to load a checkpoint written
            by ``tools/reparameterize_model.py``; inference only.
        merge (dict, optional): how blocks without projection merge branch
            and identity, the shortcut variants of He et al. 2016, e.g.
            ``dict(type='scale', shortcut_scale=0.5)``,
            ``dict(type='exclusive_gate')``, ``dict(type='shortcut_gate')``,
            ``dict(type='conv')``, ``dict(type='dropout', p=0.5)``.
        spec (BackboneSpec, optional): the network as data (see
            :mod:`~mm_iresnet.models.spec`), replacing the arguments that
            shape it (``depth`` is kept as a label): the video networks pass
            the one they translated from mmaction's arguments.
        allow_partial_load (bool): load a ResNet's weights where they fit
            instead of raising :class:`~mm_iresnet.models.resnet_weights.
            ResNetWeightsError` (see :mod:`~mm_iresnet.models.
            resnet_weights`).
        multi_grid (Sequence[int], optional): mmseg's: the dilation of each
            block of the last stage, replacing its ``dilations`` entry.
        contract_dilation (bool): mmseg's: the first block of a stage with
            dilation d > 1 uses d // 2 (not with ``multi_grid``). A stage
            that dilates instead of striding projects its shortcut with
            conv 1x1 -> BN, no pool (docs/semantics.md).

    Example:
        >>> import torch
        >>> from mm_iresnet.models import IResNet
        >>> self = IResNet(depth=18).eval()
        >>> for out in self(torch.rand(1, 3, 32, 32)):
        ...     print(tuple(out.shape))
        (1, 64, 8, 8)
        (1, 128, 4, 4)
        (1, 256, 2, 2)
        (1, 512, 1, 1)
    """
    arch_settings = ARCH_SETTINGS
    #: spatial dimensions of the input (3D subclasses add time)
    dim = 2
    #: mmaction's convention: one output stage comes back as a bare tensor
    single_output_as_tensor = False
    #: mmdet's convention: ``pretrained`` is deprecated for ``init_cfg``
    pretrained_is_deprecated = True

    def __init__(self,
                 depth: Optional[int] = 50,
                 in_channels: int = 3,
                 stem_channels: Optional[int] = None,
                 base_channels: int = 64,
                 num_stages: int = 4,
                 strides: Sequence[int] = (1, 2, 2, 2),
                 dilations: Sequence[int] = (1, 1, 1, 1),
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 style: str = 'pytorch',
                 deep_stem: bool = False,
                 avg_down: bool = False,
                 frozen_stages: int = -1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 norm_eval: bool = True,
                 dcn: Optional[dict] = None,
                 stage_with_dcn: Sequence[bool] = (False, False, False, False),
                 plugins: Optional[List[dict]] = None,
                 with_cp: bool = False,
                 zero_init_residual: bool = True,
                 pretrained: Optional[str] = None,
                 init_cfg=None,
                 stage_blocks: Optional[Sequence[int]] = None,
                 block: Optional[str] = None,
                 ordering: str = 'resstage',
                 projection: str = 'maxpool',
                 stem_pool: bool = False,
                 cifar_stem: bool = False,
                 groups: Union[int, Sequence[int]] = 1,
                 base_width: Optional[int] = 4,
                 expansion: Optional[float] = None,
                 act_cfg: dict = dict(type='ReLU', inplace=True),
                 merge: Optional[dict] = None,
                 deploy: bool = False,
                 spec: Optional[BackboneSpec] = None,
                 allow_partial_load: bool = False,
                 multi_grid: Optional[Sequence[int]] = None,
                 contract_dilation: bool = False):
        self.allow_partial_load = allow_partial_load
        init_cfg = self._pretrained_init_cfg(pretrained, init_cfg)
        default_init = init_cfg is None
        super().__init__(
            self._default_init_cfg() if default_init else init_cfg)
        # every parameter of mmdet_spec but ``stem`` is one of this
        # constructor's, under the same name (tests/test_spec.py)
        self.spec = self.adapt_spec(
            spec or mmdet_spec(**same_named_arguments(mmdet_spec, locals())))
        self.num_stages = len(self.spec.stages)
        self.out_indices = tuple(out_indices)
        self._check_outputs(frozen_stages)
        self.depth = depth
        self.in_channels = in_channels
        self.frozen_stages = frozen_stages
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.act_cfg = act_cfg
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.zero_init_residual = zero_init_residual
        self.merge = merge
        self.multi_grid = multi_grid
        self.contract_dilation = contract_dilation

        self.make_stem_layer(in_channels)
        self._build_stages(zero_init=zero_init_residual and default_init)
        self.out_channels = [self.stage_channels[i] for i in out_indices]

        self._freeze_stages()
        if deploy:
            self.switch_to_deploy()

    # ------------------------------------------------------------------
    # construction
    def _pretrained_init_cfg(self, pretrained: Optional[str], init_cfg):
        """``init_cfg`` with ``pretrained`` as its ``Pretrained`` entry
        (mmdet's deprecated form; mmaction's usual one)."""
        _, rest = split_pretrained(pretrained, init_cfg)
        if not pretrained:
            return init_cfg
        if self.pretrained_is_deprecated:
            warnings.warn('DeprecationWarning: pretrained is deprecated, '
                          'please use "init_cfg" instead')
        init_cfg = dict(type='Pretrained', checkpoint=pretrained)
        return [init_cfg] + rest if rest else init_cfg

    def _check_outputs(self, frozen_stages: int):
        if not self.out_indices or any(not 0 <= i < self.num_stages
                                       for i in self.out_indices):
            raise ValueError(f'out_indices {self.out_indices} must be in '
                             f'0..{self.num_stages - 1} (num_stages='
                             f'{self.num_stages})')
        if not -1 <= frozen_stages <= self.num_stages:
            raise ValueError(f'frozen_stages must be in -1..'
                             f'{self.num_stages} (num_stages), got '
                             f'{frozen_stages}')

    def make_stem_layer(self, in_channels: int):
        """The stem the spec describes, under its checkpoint names."""
        stem = build_stem(self.spec.stem, in_channels, self.dim, self.conv_cfg,
                          self.norm_cfg, self.act_cfg)
        for name, module in stem.items():
            self.add_module(name, module)
        #: the stem's modules in forward order
        self.stem_names = list(stem)
        # conv1, norm1 (e.g. bn1), relu for the one-conv stem
        self.norm1_name = None if self.deep_stem else self.stem_names[1]

    def _build_stages(self, zero_init: bool):
        """The stages ``layer1..N`` the spec describes (stage 1 also takes
        the stride the stem moved into it), their names in
        :attr:`res_layers`, the channels each outputs in
        :attr:`stage_channels` and the last one's in :attr:`feat_dim`."""
        self.res_layers = []
        for i, stage in enumerate(self.spec.stages):
            moved = self.spec.stem.moved_stride if i == 0 else 1
            self.add_module(
                f'layer{i + 1}',
                self.make_res_layer(
                    stage, stage.stride * moved, zero_init=zero_init))
            self.res_layers.append(f'layer{i + 1}')
        self.stage_channels = [
            self.spec.out_channels(i) for i in range(self.num_stages)
        ]
        self.feat_dim = self.stage_channels[-1]

    def adapt_spec(self, spec: BackboneSpec) -> BackboneSpec:
        """The translated network, which a subclass may change before it is
        built (TSM adds its temporal shift, a SlowFast pathway widens the
        stages that take lateral features). A pure spec transform: it reads
        the subclass's arguments and sets nothing on the module; what a
        subclass derives from the spec, its constructor sets from
        :attr:`spec` once built."""
        return spec

    def make_res_layer(self, stage: StageSpec, stride: int,
                       zero_init: bool) -> Sequential:
        """One stage: its blocks take their layout from the stage position."""
        out_channels = int(stage.planes * self.spec.expansion)
        blocks = []
        for j, extra in enumerate(stage.blocks):
            block_stride = stride if j == 0 else 1
            in_ch = stage.in_channels if j == 0 else out_channels
            blocks.append(
                ResBlock(
                    conv_specs(
                        self.spec.block,
                        in_ch,
                        stage.mid_channels,
                        out_channels,
                        stride=block_stride,
                        dilation=stage.block_dilation(j),
                        groups=stage.groups,
                        style=self.spec.style),
                    get_layout(self.spec.ordering, j, len(stage.blocks)),
                    downsample=build_projection(
                        in_ch,
                        out_channels,
                        block_stride,
                        extra.get('temporal_stride', 1),
                        projection=self.spec.projection,
                        dim=self.dim,
                        conv_cfg=self.conv_cfg,
                        norm_cfg=self.norm_cfg,
                        keep_pool_place=stage.dilation > 1),
                    dim=self.dim,
                    conv_cfg=self.conv_cfg,
                    norm_cfg=self.norm_cfg,
                    act_cfg=self.act_cfg,
                    dcn=stage.dcn,
                    plugins=list(stage.plugins),
                    with_cp=self.with_cp,
                    merge=self.merge,
                    zero_init_residual=zero_init,
                    **extra))
        return Sequential(*blocks)

    # the translated arguments, under mmdet's names
    block = property(lambda self: self.spec.block)
    stage_blocks = property(lambda self: self.spec.stage_blocks)
    strides = property(lambda self: tuple(s.stride for s in self.spec.stages))
    dilations = property(
        lambda self: tuple(s.dilation for s in self.spec.stages))
    stage_groups = property(
        lambda self: tuple(s.groups for s in self.spec.stages))
    base_channels = property(lambda self: self.spec.stages[0].planes)
    expansion = property(lambda self: self.spec.expansion)
    ordering = property(lambda self: self.spec.ordering)
    projection = property(lambda self: self.spec.projection)
    style = property(lambda self: self.spec.style)
    avg_down = property(lambda self: self.spec.projection == 'avgpool')
    stem_spec = property(lambda self: self.spec.stem)
    stem_channels = property(lambda self: self.spec.stem.channels)
    deep_stem = property(lambda self: self.spec.stem.kind == 'deep')
    cifar_stem = property(lambda self: self.spec.stem.kind == 'cifar')
    stem_pool = property(lambda self: self.spec.stem.pool == 'kept')

    @property
    def total_stride(self) -> int:
        """Input pixels per output pixel of the last stage."""
        stem = self.spec.stem
        return stem.total_stride * stem.moved_stride * math.prod(self.strides)

    # ------------------------------------------------------------------
    # mmdet behaviour
    @property
    def norm1(self) -> nn.Module:
        """The stem's norm layer (``bn1`` for BN)."""
        return getattr(self, self.norm1_name)

    def _stem_modules(self) -> List[nn.Module]:
        return [self.stem] if self.deep_stem else [self.conv1, self.norm1]

    def _freeze_stages(self):
        modules = []
        if self.frozen_stages >= 0:
            modules += self._stem_modules()
        modules += [
            getattr(self, f'layer{i}')
            for i in range(1, self.frozen_stages + 1)
        ]
        for m in modules:
            m.eval()
            for param in m.parameters():
                param.requires_grad = False

    def switch_to_deploy(self) -> List[str]:
        """Inference mode with every BN that directly follows a conv folded
        into the conv (stem, branches, shortcuts); numerically equal to the
        eval-mode network. Pre-activation norms and the norms after an
        addition are kept. One way: the network cannot train afterwards.
        Returns the names of the folded norms."""
        folded = []
        if self.deep_stem:
            folded += fold_sequential(self.stem, 'stem')
        elif fold_named(self, 'conv1', self.norm1_name):
            folded.append(self.norm1_name)
        for name in self.res_layers:
            for j, block in enumerate(getattr(self, name)):
                folded += [f'{name}.{j}.{n}' for n in block.switch_to_deploy()]
        self.deploy = True
        self.eval()
        return folded

    def train(self, mode: bool = True):
        """Train mode that keeps frozen stages (and, with ``norm_eval``, every
        BN) in eval mode."""
        if mode and getattr(self, 'deploy', False):
            raise RuntimeError(f'{type(self).__name__} was switched to deploy '
                               'mode (BN folded into convs): it can no '
                               'longer train')
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

    def _default_init_cfg(self) -> list:
        return [
            dict(type='Kaiming', layer=f'Conv{self.dim}d'),
            dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])
        ]

    def _warn_if_other_ordering(self, path):
        """Weights converted for another ordering compute another network."""
        meta = trained_meta(path) or checkpoint_meta(path)
        warn_if_other_ordering(meta, self.ordering,
                               f'{type(self).__name__} loading {path}')

    @property
    def initial_checkpoint(self) -> Optional[str]:
        """The checkpoint ``init_weights`` loads (the ``Pretrained`` entry
        of ``init_cfg``), if any."""
        return split_pretrained(None, self.init_cfg)[0]

    def init_weights(self):
        """The initialisation of :meth:`load_initial_weights`, warning first
        when a pretrained checkpoint was trained with another ordering.
        Checkpoints load under the package's load rule
        (:func:`~mm_iresnet.checkpoint.restricted_torch_load`), and a
        ResNet's weights raise (:mod:`~mm_iresnet.models.resnet_weights`)."""
        checkpoint = self.initial_checkpoint
        if checkpoint:
            self._warn_if_other_ordering(checkpoint)
        try:
            with restricted_torch_load():
                self.load_initial_weights()
        except ResNetWeightsError as e:
            if checkpoint is None or e.source is not None:
                raise
            raise ResNetWeightsError(e.message, source=checkpoint) from None

    def load_initial_weights(self):
        """mmengine's init (``init_cfg``)."""
        BaseModule.init_weights(self)

    def _load_from_state_dict(self, state_dict, prefix, *args):
        """Every load into the backbone (mmengine's or torch's) stops a
        ResNet's weights that do not fit it."""
        own = {k: v.shape for k, v in self.state_dict().items()}
        mine = {
            k[len(prefix):]: v
            for k, v in state_dict.items() if k.startswith(prefix)
        }
        check_not_resnet_weights(self, mine, unfitted_keys(own, mine))
        super()._load_from_state_dict(state_dict, prefix, *args)

    # ------------------------------------------------------------------
    def _check_input(self, x: torch.Tensor):
        """A clear ``ValueError`` for an input the network cannot take
        (:meth:`_validate_input`) in an eager run; nothing while a graph is
        captured (:func:`~.layers.graph_capture`: FX tracing, ONNX export,
        ``torch.jit``, ``torch.compile``, ``torch.export``), where the
        checks would be control flow on traced values and the graph keeps
        the network alone."""
        if not torch.jit.is_scripting():
            if not graph_capture(x):
                self._validate_input(x)

    def _validate_input(self, x: torch.Tensor):
        """Raise for a wrong rank, an empty size or a wrong channel count
        (subclasses add theirs)."""
        expected = self.dim + 2
        if x.dim() != expected:
            layout = 'N, C, H, W' if self.dim == 2 else 'N, C, T, H, W'
            raise ValueError(
                f'{type(self).__name__} expects a {expected}D input '
                f'({layout}), got shape {tuple(x.shape)}')
        if min(x.shape[2:]) < 1:
            raise ValueError(
                f'{type(self).__name__} got an empty input, shape '
                f'{tuple(x.shape)}: every size must be at least 1')
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f'{type(self).__name__} was built for in_channels='
                f'{self.in_channels} but the input has {x.shape[1]} channels '
                f'(shape {tuple(x.shape)}); set in_channels to match')

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.stem_names:
            x = getattr(self, name)(x)
        return x

    def forward(
            self,
            x: torch.Tensor) -> Union[torch.Tensor, Tuple[torch.Tensor, ...]]:
        """Features of the stages in ``out_indices``: a tuple (mmdet), or a
        bare tensor for one stage when :attr:`single_output_as_tensor`
        (mmaction)."""
        self._check_input(x)
        x = self.forward_stem(x)
        outs = []
        for i in range(len(self.res_layers)):
            x = self.forward_stage(i, x)
            if i in self.out_indices:
                outs.append(x)
        if self.single_output_as_tensor and len(outs) == 1:
            return outs[0]
        return tuple(outs)

    def forward_stage(self, index: int, x: torch.Tensor) -> torch.Tensor:
        """Stage ``index`` (``layer{index + 1}``); video networks extend it
        with what they do around a stage (mmaction's pool2, TSM's temporal
        pool, C2D's frames)."""
        return getattr(self, self.res_layers[index])(x)
