"""Named members of the family: thin presets of :class:`IResNet`.

Each preset is a class that fixes the arguments defining it (``fixed``, as
mmdet's ``ResNetV1d`` fixes ``deep_stem`` and ``avg_down``) and takes every
other argument of :class:`IResNet`; its signature is IResNet's without the
fixed ones. :data:`PRESETS` holds the same choices as data, so the 3D
network takes them too (``IResNet3d(**PRESETS['IResGroup'], ...)``).
"""
import inspect

from mmengine.registry import MODELS

from .iresnet import IResNet

__all__ = [
    'PRESETS', 'ResNetV1', 'PreActResNet', 'ResStageNet', 'IResGroup',
    'IResGroupFix', 'ResGroup', 'ResGroupFix', 'IResNetV1c', 'IResNetV1d',
    'V1C', 'V1D'
]

_ORIGINAL_LAYOUT = dict(projection='conv', stem_pool=True)
_IRESNET_LAYOUT = dict(
    ordering='resstage', projection='maxpool', stem_pool=False)
# iResGroup: stage widths (planes) 256..2048, 3x3 conv as wide as planes,
# conv3 halves it (outputs 128/256/512/1024), 32 channels per group.
_GROUP = dict(
    base_channels=256,
    stem_channels=64,
    expansion=0.5,
    base_width=None,
    groups=(8, 16, 32, 64))
_GROUP_FIX = dict(_GROUP, groups=64)
#: ResNetV1c / ResNetV1d (mmdet, mmseg, mmpose): the deep stem, and with it
#: average-pool downsampling shortcuts
V1C = dict(deep_stem=True, avg_down=False)
V1D = dict(deep_stem=True, avg_down=True)


class _Preset(IResNet):
    """A member of the family: :attr:`fixed` arguments on :class:`IResNet`
    (or on the flavour of IResNet listed after it among the bases, e.g.
    mmseg's, :mod:`~.segpose`)."""

    #: the arguments this preset fixes
    fixed: dict = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # what inspect.signature(cls) shows: its flavour's, less the fixed
        base = next(b for b in cls.__mro__[1:] if not issubclass(b, _Preset))
        signature = inspect.signature(base)
        cls.__signature__ = signature.replace(parameters=[
            p for name, p in signature.parameters.items()
            if name not in cls.fixed
        ])

    def __init__(self, **kwargs):
        clash = sorted(set(kwargs) & set(self.fixed))
        if clash:
            raise TypeError(f'{type(self).__name__} fixes '
                            f'{", ".join(clash)}; use IResNet to choose them')
        super().__init__(**self.fixed, **kwargs)


@MODELS.register_module()
class ResNetV1(_Preset):
    """ResNet v1 (post-activation, strided 1x1 projection, stem max-pool):
    weight for weight mmdet's ResNet."""
    fixed = dict(ordering='original', **_ORIGINAL_LAYOUT)


@MODELS.register_module()
class PreActResNet(_Preset):
    """Full pre-activation ResNet (v2): BN-ReLU-conv blocks, nothing after
    the addition."""
    fixed = dict(ordering='preact', **_ORIGINAL_LAYOUT)


@MODELS.register_module()
class ResStageNet(_Preset):
    """ResStage information flow on the original layout (official
    ``resstage``): stem max-pool, strided 1x1 projection."""
    fixed = dict(ordering='resstage', **_ORIGINAL_LAYOUT)


@MODELS.register_module()
class IResGroup(_Preset):
    """iResNet with grouped bottlenecks (official ``iresgroup``): groups
    8/16/32/64, outputs 128/256/512/1024 channels."""
    fixed = dict(_IRESNET_LAYOUT, **_GROUP)


@MODELS.register_module()
class IResGroupFix(_Preset):
    """iResGroup with 64 groups in every stage (official ``iresgroupfix``)."""
    fixed = dict(_IRESNET_LAYOUT, **_GROUP_FIX)


@MODELS.register_module()
class ResGroup(_Preset):
    """The grouped bottlenecks of iResGroup on the original ResNet layout
    (official ``resgroup``)."""
    fixed = dict(ordering='original', **_ORIGINAL_LAYOUT, **_GROUP)


@MODELS.register_module()
class ResGroupFix(_Preset):
    """ResGroup with 64 groups in every stage (official ``resgroupfix``)."""
    fixed = dict(ordering='original', **_ORIGINAL_LAYOUT, **_GROUP_FIX)


@MODELS.register_module()
class IResNetV1c(_Preset):
    """iResNet with the deep stem (three 3x3 convs), the counterpart of
    ``ResNetV1c``."""
    fixed = V1C


@MODELS.register_module()
class IResNetV1d(_Preset):
    """iResNet with the deep stem and average-pool downsampling shortcuts,
    the counterpart of ``ResNetV1d``."""
    fixed = V1D


#: preset name -> the arguments it fixes (``IResNet`` itself: iResNet's)
PRESETS = dict(
    IResNet=dict(_IRESNET_LAYOUT),
    **{
        cls.__name__: dict(cls.fixed)
        for cls in (ResNetV1, PreActResNet, ResStageNet, IResGroup,
                    IResGroupFix, ResGroup, ResGroupFix)
    })
