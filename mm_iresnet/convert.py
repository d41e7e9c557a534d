"""Checkpoint conversion into this package's naming.

Official iResNet checkpoints (github iduta/iresnet) already use the names of
:class:`~mm_iresnet.models.IResNet` (``conv1``, ``bn1``, ``layer{s}.{i}.bn0``,
``conv{1,2,3}``, ``bn{1,2,3}``, ``downsample.{0,1,2}``); torchvision ResNets
use those of the original-ordering member (``ordering='original',
projection='conv', stem_pool=True``). Conversion therefore drops the
classifier (or keeps it aside), unwraps containers and prefixes, infers the
architecture from the keys and proves the result loads into that backbone
with no missing, unexpected or mis-shaped key.

Every official iResNet-family checkpoint was trained with the released
ResStage ordering (``'resstage'``, official master babdc4f); the converted
file records it (``meta['trained_ordering']``), and a network of another
ordering loading it warns.
"""
import re
from collections import OrderedDict
from typing import Dict, Optional, Tuple

import torch

from .checkpoint import (CheckpointError, check_state_dict,
                         load_state_dict_file, save_atomic,
                         warn_if_other_ordering)
from .models import IResNet
from .official import SOURCES

__all__ = [
    'CheckpointError', 'SOURCES', 'load_state_dict_file', 'infer_arch',
    'convert_state_dict', 'build_backbone_for', 'check_state_dict',
    'converted_checkpoint', 'convert_file'
]

#: keys of the ImageNet classifier of every source
CLASSIFIER_PREFIX = 'fc.'


def infer_arch(state_dict: Dict[str, torch.Tensor]) -> dict:
    """Backbone arguments (stage_blocks, block, widths, depth) read from the
    keys and shapes of a state dict."""
    blocks = {}
    for key in state_dict:
        m = re.match(r'layer(\d+)\.(\d+)\.conv1\.weight$', key)
        if m:
            stage, index = int(m.group(1)), int(m.group(2))
            blocks[stage] = max(blocks.get(stage, 0), index + 1)
    if not blocks or 'conv1.weight' not in state_dict:
        raise CheckpointError('no ResNet-style keys (conv1.weight, '
                              'layer1.0.conv1.weight, ...) in this checkpoint')
    stage_blocks = tuple(blocks[s] for s in sorted(blocks))
    block = 'bottleneck' if 'layer1.0.conv3.weight' in state_dict \
        else 'basic'
    depth = next((d for d, (b, sb) in IResNet.arch_settings.items()
                  if b == block and tuple(sb) == stage_blocks), None)
    stem = state_dict['conv1.weight']
    planes = state_dict['layer1.0.conv1.weight'].shape[0]
    arch = dict(
        depth=depth,
        stage_blocks=stage_blocks,
        block=block,
        num_stages=len(stage_blocks),
        in_channels=stem.shape[1],
        stem_channels=stem.shape[0],
        base_channels=planes,
        out_indices=tuple(range(len(stage_blocks))))
    if block == 'bottleneck':
        # grouped 3x3 convs: (out, in / groups, k, k); width = planes
        groups = tuple(state_dict[f'layer{s}.0.conv2.weight'].shape[0] //
                       state_dict[f'layer{s}.0.conv2.weight'].shape[1]
                       for s in sorted(blocks))
        out = state_dict['layer1.0.conv3.weight'].shape[0]
        arch.update(
            expansion=out / planes,
            base_width=None,
            groups=groups if len(set(groups)) > 1 else groups[0])
    return arch


def convert_state_dict(
    state_dict: Dict[str, torch.Tensor],
    src: str,
    ordering: Optional[str] = None
) -> Tuple[Dict[str, torch.Tensor], dict, Dict[str, torch.Tensor]]:
    """(backbone state dict in this package's naming, backbone arguments,
    classifier tensors ``weight``/``bias``).

    ``ordering`` overrides the ordering the source was trained with (a
    warning says the result is then another network).
    """
    if src not in SOURCES:
        raise ValueError(f'unknown source {src!r}; valid: '
                         f'{", ".join(SOURCES)}')
    converted = OrderedDict((k, v) for k, v in state_dict.items()
                            if not k.startswith(CLASSIFIER_PREFIX))
    classifier = {
        k[len(CLASSIFIER_PREFIX):]: v
        for k, v in state_dict.items() if k.startswith(CLASSIFIER_PREFIX)
    }
    arch = dict(infer_arch(converted), **SOURCES[src])
    if ordering is not None:
        warn_if_other_ordering(
            _meta(src, arch), ordering, f'converting a {src!r} checkpoint')
        arch['ordering'] = ordering
    return converted, arch, classifier


def _meta(src: str, arch: dict) -> dict:
    return dict(
        src=src,
        trained_ordering=SOURCES[src]['ordering'],
        arch={
            k: (list(v) if isinstance(v, tuple) else v)
            for k, v in arch.items()
        })


def build_backbone_for(arch: dict) -> IResNet:
    """The backbone ``arch`` describes, on the meta device: its keys and
    shapes without memory or initialisation (a key check of a 1001-layer
    network costs no more than building its modules)."""
    with torch.device('meta'):
        return IResNet(**arch)


def converted_checkpoint(state_dict: Dict[str, torch.Tensor],
                         src: str,
                         ordering: Optional[str] = None,
                         keep_classifier: bool = False) -> Tuple[dict, dict]:
    """(the converted checkpoint, the backbone arguments it fits).

    The checkpoint holds ``state_dict`` (the backbone), ``meta`` (``src``,
    the ``arch`` arguments, ``trained_ordering``) and, with
    ``keep_classifier``, ``classifier`` (the source's ``fc`` ``weight`` and
    ``bias``). Raises CheckpointError when it does not load strictly into
    the backbone its keys describe.
    """
    state_dict, arch, classifier = convert_state_dict(state_dict, src,
                                                      ordering)
    check_state_dict(build_backbone_for(arch), state_dict)
    out = dict(state_dict=state_dict, meta=_meta(src, arch))
    if keep_classifier:
        if not classifier:
            raise CheckpointError(f'no classifier ({CLASSIFIER_PREFIX}*) '
                                  'to keep')
        out['classifier'] = classifier
    return out, arch


def convert_file(src_path: str,
                 out_path: str,
                 src: str,
                 ordering: Optional[str] = None,
                 keep_classifier: bool = False) -> dict:
    """Convert ``src_path`` (see :func:`converted_checkpoint`) and save it to
    ``out_path`` atomically; returns the backbone arguments it fits."""
    try:
        out, arch = converted_checkpoint(
            load_state_dict_file(src_path), src, ordering, keep_classifier)
    except CheckpointError as e:
        raise CheckpointError(f'{src_path}: {e}') from e
    save_atomic(out, out_path)
    return arch
