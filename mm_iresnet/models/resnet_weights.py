"""ResNet weights loaded into an iResNet: caught by content, not by name.

A config that swaps only ``type='ResNet'`` for ``'IResNet'`` keeps its
``init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')``
(mmaction2: ``pretrained='torchvision://resnet50'``). ResNet-50's tensors
fit 254 of IResNet-50's 318 by name and shape, mmengine's non-strict load
only warns about the rest, and training would go on with a network that is
neither. :func:`check_not_resnet_weights` stops that load with one error
that names the fix.

A checkpoint is a ResNet's (:func:`is_resnet_state_dict`) when every
residual block in it has one norm after each of its convs and no other
(``convK`` with ``bnK``, mmdet's and torchvision's names, or mmaction2's
``convK.conv`` with ``convK.bn``): ResNet v1, ResNeXt, ResNet-D and their
mmaction2 3D forms. An iResNet checkpoint is not: its middle and end blocks
have a pre-activation norm (``bn0``) and no norm after their last conv, or
an after-add norm. A stage of two blocks (iResNet-18) is a start block and
an end block whose norms sit where a ResNet's do, so where no stage has
three blocks a checkpoint is a ResNet's only if a shortcut starts with a
conv (``downsample.0``, ResNet's strided 1x1 conv; iResNet's starts with a
max-pool). A ResNet-D of such depth (average-pool shortcut) cannot be told
from an iResNet by its tensors. The load is stopped only when such a
checkpoint does not fit the backbone (a tensor of the backbone is missing
from it or has another shape), so a ResNet-layout member of the family
(``ordering='original', projection='conv'``) still loads ResNet weights, and
every iResNet checkpoint loads as before. ``allow_partial_load=True`` on the
backbone turns the check off: the tensors that fit are loaded, as mmengine
does for any checkpoint.
"""
import re
from collections import Counter, defaultdict
from typing import Dict, Iterable, Optional, Set, Tuple

from ..checkpoint import CheckpointError
from ..official import OFFICIAL_MODELS, SCHEME

__all__ = [
    'ResNetWeightsError', 'is_resnet_state_dict', 'unfitted_keys',
    'check_not_resnet_weights'
]

# a residual block's conv or norm key: (block, kind, index), the block being
# everything up to ``layerS.I`` (a pathway's or model's prefix included);
# mmaction2's ConvModule names (``convK.conv``, ``convK.bn``, TSM's
# ``convK.conv.net``) count as mmdet's ``convK`` and ``bnK``
_BLOCK_KEY = re.compile(r'^(?P<block>(?:.*\.)?layer\d+\.\d+)\.(?:'
                        r'conv(?P<conv>\d+)(?:\.conv)?(?:\.net)?\.weight'
                        r'|bn(?P<bn>\d+)\.(?:weight|running_mean)'
                        r'|conv(?P<convbn>\d+)\.bn\.(?:weight|running_mean)'
                        r'|downsample\.(?P<shortcut>0|conv)\.weight)$')


class ResNetWeightsError(CheckpointError):
    """A ResNet's weights loaded into an iResNet backbone; ``source`` names
    the checkpoint where the loader knows it."""

    def __init__(self, message: str, source: Optional[str] = None):
        super().__init__(f'{source}: {message}' if source else message)
        self.message = message
        self.source = source


def _block_layers(keys: Iterable[str]) -> Dict[str, Tuple[Set, Set]]:
    """block -> (indices of its convs, indices of its norms); a block whose
    shortcut starts with a conv has index 0 among its convs."""
    blocks = defaultdict(lambda: (set(), set()))
    for key in keys:
        m = _BLOCK_KEY.match(key)
        if m is None:
            continue
        convs, norms = blocks[m['block']]
        if m['conv'] or m['shortcut']:
            convs.add(int(m['conv'] or 0))
        else:
            norms.add(int(m['bn'] or m['convbn']))
    return blocks


def is_resnet_state_dict(keys: Iterable[str]) -> bool:
    """Whether a state dict with ``keys`` is a ResNet's (module doc): every
    residual block has one norm after each conv and no other, and either a
    stage has three blocks or more or some shortcut starts with a conv."""
    blocks = _block_layers(keys)
    stages = Counter(block.rsplit('.', 1)[0] for block in blocks)
    return bool(blocks) and all(
        convs - {0} and convs - {0} == norms
        for convs, norms in blocks.values()) and (max(
            stages.values()) >= 3 or any(0 in convs
                                         for convs, _ in blocks.values()))


def unfitted_keys(model_keys: Dict[str, tuple], state_dict: dict) -> list:
    """Keys of the model (name -> shape) that ``state_dict`` lacks or holds
    with another shape (BN's ``num_batches_tracked`` aside: torchvision's
    files have none)."""
    return [
        k for k, shape in model_keys.items()
        if not k.endswith('num_batches_tracked') and (
            k not in state_dict or tuple(state_dict[k].shape) != tuple(shape))
    ]


def _fix(backbone) -> str:
    """How to initialise ``backbone`` instead, in its config's words."""
    official = f'iresnet{backbone.depth}'
    model = OFFICIAL_MODELS.get(official)
    mmaction_style = not type(backbone).pretrained_is_deprecated
    none = 'pretrained=None' if mmaction_style else 'init_cfg=None'
    if model is None or model.drive_id is None:
        return (f'no pretrained weights, {none} (no official '
                f'iResNet-{backbone.depth} checkpoint exists)')
    name = f'{SCHEME}{official}'
    weights = (f"pretrained='{name}'" +
               (', pretrained2d=True' if backbone.dim == 3 else '')
               if mmaction_style else
               f"init_cfg=dict(type='Pretrained', checkpoint='{name}')")
    return (f'the official iResNet-{backbone.depth} ImageNet weights, '
            f'{weights}, or with no pretrained weights, {none}')


def check_not_resnet_weights(backbone, state_dict: dict,
                             unfitted: Iterable[str]):
    """Raise :class:`ResNetWeightsError` when ``state_dict`` is a ResNet's
    and ``unfitted`` (the backbone's keys it does not fill) is not empty,
    unless the backbone says ``allow_partial_load``."""
    unfitted = list(unfitted)
    if getattr(backbone, 'allow_partial_load', False) or not unfitted or \
            not is_resnet_state_dict(state_dict):
        return
    total = len([
        k for k in backbone.state_dict()
        if not k.endswith('num_batches_tracked')
    ])
    raise ResNetWeightsError(
        f'these are a ResNet\'s weights (every block has one norm '
        f'after each conv), not an iResNet\'s: {type(backbone).__name__} '
        f'would get {total - len(unfitted)} of its {total} tensors from '
        f'them and keep its initialisation for the rest (e.g. '
        f'{", ".join(unfitted[:3])}), a network that is neither. A config '
        'whose type was swapped from ResNet keeps the ResNet weights of its '
        f'base: replace them with {_fix(backbone)}. To load the tensors '
        'that fit anyway, set allow_partial_load=True in the backbone.')
