"""The 2D iResNet with mmsegmentation's and mmpose's ``ResNet`` conventions.

mmseg's and mmpose's ``ResNet`` take mmdet's arguments with other defaults
(``stem_channels=64`` whatever ``base_channels``, ``norm_eval=False``;
mmpose: ``out_indices=(3,)``), and mmseg adds ``multi_grid`` and
``contract_dilation``, which :class:`~.iresnet.IResNet` translates itself
(:func:`~.spec.mmdet_spec`). :class:`IResNetSeg` and :class:`IResNetPose`
are those defaults; the ``V1c``/``V1d`` presets fix the deep stem (and the
average-pool shortcut) on them as on IResNet (:mod:`~.presets`).

Each is registered under the name of the type it replaces in its
codebase's registry (``IResNet``, ``IResNetV1c``, ``IResNetV1d``), which
mmseg's and mmpose's configs search before the root registry, so
``type='IResNetV1c'`` in an mmseg config means :class:`IResNetSegV1c`, and
in the root registry under its class name. Registration is skipped when the
codebase is not installed: ``import mm_iresnet`` needs neither.
"""
import importlib.util
from typing import Optional, Sequence

from mmengine.logging import MMLogger
from mmengine.registry import MODELS

from ..deps import require
from .iresnet import IResNet
from .presets import V1C, V1D, _Preset

__all__ = [
    'IResNetSeg', 'IResNetSegV1c', 'IResNetSegV1d', 'IResNetPose',
    'IResNetPoseV1d', 'MMSEG_TYPES', 'MMPOSE_TYPES', 'register_in_codebase'
]


@MODELS.register_module()
class IResNetSeg(IResNet):
    """The 2D iResNet with mmseg's ``ResNet`` defaults: ``stem_channels=64``
    and ``norm_eval=False``; every other argument is :class:`IResNet`'s,
    ``multi_grid`` and ``contract_dilation`` included."""

    def __init__(self,
                 depth: Optional[int] = 50,
                 stem_channels: Optional[int] = 64,
                 norm_eval: bool = False,
                 **kwargs):
        super().__init__(
            depth=depth,
            stem_channels=stem_channels,
            norm_eval=norm_eval,
            **kwargs)


@MODELS.register_module()
class IResNetSegV1c(_Preset, IResNetSeg):
    """:class:`IResNetSeg` with the deep stem (mmseg's ``ResNetV1c``)."""
    fixed = V1C


@MODELS.register_module()
class IResNetSegV1d(_Preset, IResNetSeg):
    """:class:`IResNetSeg` with the deep stem and average-pool shortcuts
    (mmseg's ``ResNetV1d``)."""
    fixed = V1D


@MODELS.register_module()
class IResNetPose(IResNet):
    """The 2D iResNet with mmpose's ``ResNet`` defaults: ``stem_channels=64``,
    ``out_indices=(3,)`` and ``norm_eval=False``."""

    def __init__(self,
                 depth: Optional[int] = 50,
                 stem_channels: Optional[int] = 64,
                 out_indices: Sequence[int] = (3, ),
                 norm_eval: bool = False,
                 **kwargs):
        super().__init__(
            depth=depth,
            stem_channels=stem_channels,
            out_indices=out_indices,
            norm_eval=norm_eval,
            **kwargs)


@MODELS.register_module()
class IResNetPoseV1d(_Preset, IResNetPose):
    """:class:`IResNetPose` with the deep stem and average-pool shortcuts
    (mmpose's ``ResNetV1d``)."""
    fixed = V1D


#: name in mmseg's registry -> the class it means there
MMSEG_TYPES = dict(
    IResNet=IResNetSeg, IResNetV1c=IResNetSegV1c, IResNetV1d=IResNetSegV1d)
#: name in mmpose's registry -> the class it means there
MMPOSE_TYPES = dict(IResNet=IResNetPose, IResNetV1d=IResNetPoseV1d)
_CODEBASES = dict(mmseg=MMSEG_TYPES, mmpose=MMPOSE_TYPES)


def register_in_codebase(module: str) -> bool:
    """Register the flavours of ``module`` ('mmseg' or 'mmpose') in its
    ``MODELS`` registry under the names of the types they replace, when a
    supported version is installed; returns whether it did."""
    if importlib.util.find_spec(module) is None:
        return False
    try:
        require(module)
        registry = importlib.import_module(f'{module}.registry').MODELS
    except (ImportError, AssertionError) as e:
        # out of range, or refusing the installed mmcv/mmengine at import
        # (mmseg and mmpose assert their versions): the rest of the package
        # works without it
        MMLogger.get_current_instance().warning(
            f'{module} configs will not find the iResNet counterparts: '
            f'{type(e).__name__}: {e}')
        return False
    for name, cls in _CODEBASES[module].items():
        registry.register_module(name=name, module=cls, force=True)
    return True
