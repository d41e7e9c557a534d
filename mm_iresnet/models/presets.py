"""Named members of the family: thin presets of :class:`IResNet`.

Each fixes the arguments that define it (as mmdet's ``ResNetV1d`` does) and
takes every other argument of :class:`IResNet`; :data:`PRESETS` holds the
same choices as data, so the 3D network takes them too
(``IResNet3d(**PRESETS['IResGroup'], ...)``).
"""
from mmengine.registry import MODELS

from .iresnet import IResNet

__all__ = ['PRESETS', 'ResNetV1', 'PreActResNet', 'ResStageNet',
           'IResGroup', 'IResGroupFix', 'ResGroup', 'ResGroupFix']

_ORIGINAL_LAYOUT = dict(projection='conv', stem_pool=True)
# iResGroup: stage widths (planes) 256..2048, 3x3 conv as wide as planes,
# conv3 halves it (outputs 128/256/512/1024), 32 channels per group.
_GROUP = dict(base_channels=256, stem_channels=64, expansion=0.5,
              base_width=None, groups=(8, 16, 32, 64))
_GROUP_FIX = dict(_GROUP, groups=64)

#: preset name -> the arguments it fixes
PRESETS = {
    'ResNetV1': dict(ordering='original', **_ORIGINAL_LAYOUT),
    'PreActResNet': dict(ordering='preact', **_ORIGINAL_LAYOUT),
    'ResStageNet': dict(ordering='resstage', **_ORIGINAL_LAYOUT),
    'IResNet': dict(ordering='resstage', projection='maxpool',
                    stem_pool=False),
    'IResGroup': dict(ordering='resstage', projection='maxpool',
                      stem_pool=False, **_GROUP),
    'IResGroupFix': dict(ordering='resstage', projection='maxpool',
                         stem_pool=False, **_GROUP_FIX),
    'ResGroup': dict(ordering='original', **_ORIGINAL_LAYOUT, **_GROUP),
    'ResGroupFix': dict(ordering='original', **_ORIGINAL_LAYOUT,
                        **_GROUP_FIX),
}


def _preset(name: str, doc: str):

    def __init__(self, **kwargs):
        clash = sorted(set(kwargs) & set(PRESETS[name]))
        if clash:
            raise TypeError(f'{name} fixes {", ".join(clash)}; use IResNet '
                            'to choose them')
        IResNet.__init__(self, **PRESETS[name], **kwargs)

    cls = type(name, (IResNet, ), dict(__init__=__init__, __doc__=doc))
    return MODELS.register_module(module=cls)


ResNetV1 = _preset(
    'ResNetV1', 'ResNet v1 (post-activation, strided 1x1 projection, stem '
    'max-pool): weight for weight mmdet\'s ResNet.')
PreActResNet = _preset(
    'PreActResNet', 'Full pre-activation ResNet (v2): BN-ReLU-conv blocks, '
    'nothing after the addition.')
ResStageNet = _preset(
    'ResStageNet', 'ResStage information flow on the original layout '
    '(official ``resstage``): stem max-pool, strided 1x1 projection.')
IResGroup = _preset(
    'IResGroup', 'iResNet with grouped bottlenecks (official '
    '``iresgroup``): groups 8/16/32/64, outputs 128/256/512/1024 channels.')
IResGroupFix = _preset(
    'IResGroupFix', 'iResGroup with 64 groups in every stage (official '
    '``iresgroupfix``).')
ResGroup = _preset(
    'ResGroup', 'The grouped bottlenecks of iResGroup on the original '
    'ResNet layout (official ``resgroup``).')
ResGroupFix = _preset(
    'ResGroupFix', 'ResGroup with 64 groups in every stage (official '
    '``resgroupfix``).')
