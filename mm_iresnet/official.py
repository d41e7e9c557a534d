"""What the official iResNet code publishes, as data.

The official repository (github iduta/iresnet, master babdc4f) defines seven
model families in ``models/*.py``; each file's ``model_urls`` names the
Google Drive file of every ImageNet checkpoint it released, or says
"Trained model not available yet!!". This module holds those facts, the
ImageNet top-1 accuracies of the official README, and which member of this
package's family each source's checkpoints were trained as (the converter's
:data:`SOURCES`). A leaf module: it imports nothing.
"""
from typing import Dict, NamedTuple, Optional

__all__ = [
    'SCHEME', 'SOURCES', 'FAMILIES', 'OFFICIAL_MODELS', 'OfficialModel',
    'official_model', 'drive_url', 'trained_meta'
]

#: the checkpoint scheme that names official weights: ``iresnet://NAME``
SCHEME = 'iresnet://'

_ORIGINAL = dict(ordering='original', projection='conv', stem_pool=True)
_IRESNET = dict(ordering='resstage', projection='maxpool', stem_pool=False)

#: checkpoint source -> backbone arguments of the family member its
#: checkpoints were trained as (widths and groups are read from the keys).
#: Every official iResNet-family model was trained with the released ResStage
#: ordering (``'resstage'``, official master babdc4f).
SOURCES = {
    'iresnet': _IRESNET,
    'iresgroup': _IRESNET,
    'iresgroupfix': _IRESNET,
    'resstage': dict(_ORIGINAL, ordering='resstage'),
    # the official ResNet / ResGroup files keep torchvision's layout and keys
    'resnet': _ORIGINAL,
    'resgroup': _ORIGINAL,
    'resgroupfix': _ORIGINAL,
    'torchvision': _ORIGINAL,
}

#: official family (its ``models/<family>.py``) -> the preset of
#: :mod:`mm_iresnet.models.presets` that builds the same network
FAMILIES = {
    'iresnet': 'IResNet',
    'resstage': 'ResStageNet',
    'iresgroup': 'IResGroup',
    'iresgroupfix': 'IResGroupFix',
    'resnet': 'ResNetV1',
    'resgroup': 'ResGroup',
    'resgroupfix': 'ResGroupFix',
}


class OfficialModel(NamedTuple):
    name: str  # e.g. 'iresnet50'
    family: str  # key of FAMILIES and SOURCES
    depth: int
    drive_id: Optional[str]  # None: "Trained model not available yet!!"
    top1: Optional[float]  # ImageNet top-1 (%) of the official README


# (name, Google Drive id or None, top-1 or None), from models/*.py
# ``model_urls`` and README.md at master babdc4f
_TABLE = {
    'iresnet': [
        ('iresnet18', None, None),
        ('iresnet34', None, None),
        ('iresnet50', '1Waw3ob8KPXCY9iCLdAD6RUA0nvVguc6K', 77.31),
        ('iresnet101', '1cZ4XhwZfUOm_o0WZvenknHIqgeqkY34y', 78.64),
        ('iresnet152', '10heFLYX7VNlaSrDy4SZbdOOV9xwzwyli', 79.34),
        ('iresnet200', '1Ao-f--jNU7MYPqSW8UMonXVrq3mkLRpW', 79.48),
        ('iresnet302', '1UcyvLhLzORJZBUQDNJdsx3USCloXZT6V', None),
        ('iresnet404', '1hEOHErsD6AF1b3qQi56mgxvYDneTvMIq', None),
        ('iresnet1001', None, None),
    ],
    'resstage': [
        ('resstage18', None, None),
        ('resstage34', None, None),
        ('resstage50', '1r2GvTm50xF6euU4Z6A_MYoMkiKbYRO3a', None),
        ('resstage101', '16qGLSElXet4ByQfG3a-zO9fNxGofRsLt', None),
        ('resstage152', '1m798qbvw8g-rW4aORIV9JY8c1JGzoVCI', None),
        ('resstage200', '16ZYVIkMfycnSjof4BzP312Gk3XNw1xwg', None),
    ],
    'iresgroup': [
        ('iresgroup50', '1mCcUKTLbJfjLr2ZiUZPT89wlNf6WxWr_', None),
        ('iresgroup101', '1i_btVQzQeXFgHFfDi5nTEb_fb7gCtqLG', None),
        ('iresgroup152', '1rXDMj-yWcKEiO3LILLZlarh69HEibXMc', None),
    ],
    'iresgroupfix': [
        ('iresgroupfix50', '12oeCmPhaID2s3Doay8ZXMehnaaWqa_ek', None),
        ('iresgroupfix101', '1A8MIGI1ZEIfaB1bn_NN4QkoHKGRGxW_i', None),
        ('iresgroupfix152', '1s-4zKwbwlAJruSm-OFYmw96_qew7F2nw', None),
    ],
    'resnet': [
        ('resnet18', None, None),
        ('resnet34', None, None),
        ('resnet50', '1yqp8Z6qp03ZKToACTJHLtynDBUToRLrU', 76.12),
        ('resnet101', '13_OnBf7qJnFFBMrDZXdox7kmhMmxCXAG', 78.00),
        ('resnet152', '1BsYmoAVJxumH4yWKH-DcJ_YDk__3ArQT', 78.45),
        ('resnet200', '1n4turCIswvNdWoRq2imZn1Ump-2giwKa', 77.55),
    ],
    'resgroup': [
        ('resgroup50', '1iKdFnKcQoGdqfCpRPkTzQcyzdZV8Ur-3', None),
        ('resgroup101', '1eYhQxYGydTgzS9d_Ks4bvviM-g6lzXdb', None),
        ('resgroup152', '18wlEo9igKvS73W76_5L2fzm1Gr7Rygpt', None),
    ],
    'resgroupfix': [
        ('resgroupfix50', '1O9-pGasclSTY8jVB_ez1ANv-DTZ8Sgo9', None),
        ('resgroupfix101', '1oqTfG-zpiHr7hKYuxMbE2v10nF2zNSxO', None),
        ('resgroupfix152', '1-TveOWnOHdDZLrAsKZ2Xj6pFO25X1cIG', None),
    ],
}

#: every model name of the official code -> its facts
OFFICIAL_MODELS: Dict[str, OfficialModel] = {
    name: OfficialModel(name, family, int(name[len(family):]), drive_id, top1)
    for family, rows in _TABLE.items()
    for name, drive_id, top1 in rows
}


def official_model(name: str) -> OfficialModel:
    """The official model ``name``; a KeyError lists the valid names."""
    try:
        return OFFICIAL_MODELS[name]
    except KeyError:
        raise KeyError(f'unknown official model {name!r}; valid names: '
                       f'{", ".join(OFFICIAL_MODELS)}') from None


def drive_url(model: OfficialModel) -> str:
    """The download URL of a released checkpoint."""
    return f'https://drive.google.com/uc?id={model.drive_id}'


def trained_meta(checkpoint) -> dict:
    """The ``meta`` the converted checkpoint ``iresnet://NAME`` carries (its
    source and the ordering it was trained with), known without loading it;
    empty for anything else."""
    if not isinstance(checkpoint, str) or not checkpoint.startswith(SCHEME):
        return {}
    model = OFFICIAL_MODELS.get(checkpoint[len(SCHEME):])
    if model is None:
        return {}
    return dict(
        src=model.family, trained_ordering=SOURCES[model.family]['ordering'])
