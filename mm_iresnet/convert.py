"""Checkpoint conversion into this package's naming, with safe loading.

Official iResNet checkpoints (github iduta/iresnet) already use the names of
:class:`~mm_iresnet.models.IResNet` (``conv1``, ``bn1``, ``layer{s}.{i}.bn0``,
``conv{1,2,3}``, ``bn{1,2,3}``, ``downsample.{0,1,2}``); torchvision ResNets
use those of the original-ordering member (``ordering='original',
projection='conv', stem_pool=True``). Conversion therefore drops the
classifier, unwraps containers and prefixes, infers the architecture from the
keys and proves the result loads into that backbone with no missing,
unexpected or mis-shaped key.
"""
import os.path as osp
import pickle
import re
from collections import OrderedDict
from typing import Dict, Optional, Tuple

import torch

__all__ = ['CheckpointError', 'SOURCES', 'load_state_dict_file',
           'infer_arch', 'convert_state_dict', 'build_backbone_for',
           'check_state_dict', 'convert_file', 'missing_checkpoint_hint']

#: source -> backbone arguments of the matching family member (widths and
#: groups are read from the checkpoint)
SOURCES = {
    'iresnet': dict(ordering='resstage', projection='maxpool',
                    stem_pool=False),
    'iresgroup': dict(ordering='resstage', projection='maxpool',
                      stem_pool=False),
    'iresgroupfix': dict(ordering='resstage', projection='maxpool',
                         stem_pool=False),
    'resstage': dict(ordering='resstage', projection='conv', stem_pool=True),
    'torchvision': dict(ordering='original', projection='conv',
                        stem_pool=True),
}


def missing_checkpoint_hint(path) -> Optional[str]:
    """What to do about a pretrained checkpoint that is a missing local file
    (``None`` when it exists, or is a URL / ``scheme://`` the loaders
    fetch)."""
    if not isinstance(path, str) or '://' in path or osp.exists(path):
        return None
    return (f'pretrained checkpoint {path!r} not found: convert the official '
            'ImageNet weights with `python tools/convert_checkpoint.py IN.pth '
            f'{path} --src iresnet` (README, "Pretrained weights"), or train '
            'from scratch with model.backbone.init_cfg=None (mmdet) / '
            'model.backbone.pretrained=None (mmaction)')


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read or does not fit the backbone."""


def load_state_dict_file(path: str) -> Dict[str, torch.Tensor]:
    """Load tensors only (``weights_only=True``): a pickle payload is refused.

    Unwraps ``state_dict`` / ``model`` containers and ``module.`` prefixes.
    """
    try:
        obj = torch.load(path, map_location='cpu', weights_only=True)
    except FileNotFoundError:
        raise
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f'{path}: refused to load, it holds Python objects beyond '
            f'tensors and plain containers (weights_only=True). Only load '
            f'files you trust otherwise. Details: {str(e).splitlines()[0]}'
        ) from e
    except Exception as e:  # torch raises many types for a damaged file
        raise CheckpointError(
            f'{path}: not a readable PyTorch checkpoint (truncated or not a '
            f'checkpoint): {str(e).splitlines()[0]}') from e
    if isinstance(obj, dict):
        for key in ('state_dict', 'model'):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(
            isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f'{path}: holds no state dict of tensors')
    return OrderedDict(
        (k[len('module.'):] if k.startswith('module.') else k, v)
        for k, v in obj.items())


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
    from .models import IResNet
    depth = next((d for d, (b, sb) in IResNet.arch_settings.items()
                  if b == block and tuple(sb) == stage_blocks), None)
    stem = state_dict['conv1.weight']
    planes = state_dict['layer1.0.conv1.weight'].shape[0]
    arch = dict(depth=depth, stage_blocks=stage_blocks, block=block,
                num_stages=len(stage_blocks), in_channels=stem.shape[1],
                stem_channels=stem.shape[0], base_channels=planes,
                out_indices=tuple(range(len(stage_blocks))))
    if block == 'bottleneck':
        # grouped 3x3 convs: (out, in / groups, k, k); width = planes
        groups = tuple(
            state_dict[f'layer{s}.0.conv2.weight'].shape[0] //
            state_dict[f'layer{s}.0.conv2.weight'].shape[1]
            for s in sorted(blocks))
        out = state_dict['layer1.0.conv3.weight'].shape[0]
        arch.update(expansion=out / planes, base_width=None,
                    groups=groups if len(set(groups)) > 1 else groups[0])
    return arch


def convert_state_dict(state_dict: Dict[str, torch.Tensor],
                       src: str) -> Tuple[Dict[str, torch.Tensor], dict]:
    """(state dict in this package's naming, backbone arguments)."""
    if src not in SOURCES:
        raise ValueError(f'unknown source {src!r}; valid: '
                         f'{", ".join(SOURCES)}')
    converted = OrderedDict((k, v) for k, v in state_dict.items()
                            if not k.startswith('fc.'))
    arch = dict(infer_arch(converted), **SOURCES[src])
    return converted, arch


def build_backbone_for(arch: dict):
    from .models import IResNet
    return IResNet(**arch)


def check_state_dict(model: torch.nn.Module,
                     state_dict: Dict[str, torch.Tensor]):
    """Raise CheckpointError naming every missing, unexpected or mis-shaped
    key of ``state_dict`` for ``model``."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    shapes = sorted(f'{k}: checkpoint {tuple(v.shape)} vs model '
                    f'{tuple(own[k].shape)}' for k, v in state_dict.items()
                    if k in own and own[k].shape != v.shape)
    problems = [f'{title} ({len(keys)}): {", ".join(keys)}'
                for title, keys in (('missing keys', missing),
                                    ('unexpected keys', unexpected),
                                    ('mis-shaped keys', shapes)) if keys]
    if problems:
        raise CheckpointError('checkpoint does not fit '
                              f'{type(model).__name__}:\n  ' +
                              '\n  '.join(problems))


def convert_file(src_path: str, out_path: str, src: str) -> dict:
    """Convert ``src_path`` and save it to ``out_path``; returns the
    backbone arguments it fits (also stored under ``meta``)."""
    state_dict, arch = convert_state_dict(load_state_dict_file(src_path),
                                          src)
    check_state_dict(build_backbone_for(arch), state_dict)
    meta = dict(src=src, arch={k: (list(v) if isinstance(v, tuple) else v)
                               for k, v in arch.items()})
    torch.save(dict(state_dict=state_dict, meta=meta), out_path)
    return arch
