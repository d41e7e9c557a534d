"""Swap ResNet for IResNet in the configs shipped with mmdet / mmaction2.

Used by ``tools/analysis/zoo_swap_check.py`` (every zoo config, whole
detectors) and by the tests (every distinct backbone of the zoo).
"""
import copy
import glob
import os.path as osp
from typing import Dict, Iterator, List, Tuple

from mmengine.config import Config

from .deps import require

__all__ = ['zoo_config_files', 'swap_backbone_type', 'zoo_backbones']


def zoo_config_files(package: str = 'mmdet') -> List[str]:
    """Every non-base config in an installed package's ``.mim/configs``."""
    module = require(package)
    root = osp.join(osp.dirname(module.__file__), '.mim', 'configs')
    return sorted(f for f in glob.glob(osp.join(root, '**', '*.py'),
                                       recursive=True)
                  if f'{osp.sep}_base_{osp.sep}' not in f)


def swap_backbone_type(model_cfg: dict, old: str, new: str) -> int:
    """Change every ``backbone`` of type ``old`` inside ``model_cfg`` to
    ``new`` in place, dropping its pretrained/init weights (they belong to
    the old network). Returns how many were swapped."""
    swapped = 0
    if isinstance(model_cfg, dict):
        backbone = model_cfg.get('backbone')
        if isinstance(backbone, dict) and backbone.get('type') == old:
            backbone['type'] = new
            backbone.pop('init_cfg', None)
            backbone.pop('pretrained', None)
            swapped += 1
        for key, value in model_cfg.items():
            if key != 'backbone' or value is not backbone:
                swapped += swap_backbone_type(value, old, new)
    elif isinstance(model_cfg, (list, tuple)):
        for value in model_cfg:
            swapped += swap_backbone_type(value, old, new)
    return swapped


def _backbone_of(model_cfg, old: str):
    if isinstance(model_cfg, dict):
        backbone = model_cfg.get('backbone')
        if isinstance(backbone, dict) and backbone.get('type') == old:
            return backbone
        for value in model_cfg.values():
            found = _backbone_of(value, old)
            if found is not None:
                return found
    return None


def zoo_backbones(package: str = 'mmdet', old: str = 'ResNet'
                  ) -> Iterator[Tuple[str, Config]]:
    """(config path, loaded config) of each zoo config with an ``old``
    backbone; configs that do not load in this environment are skipped."""
    for path in zoo_config_files(package):
        try:
            cfg = Config.fromfile(path)
        except Exception:  # configs needing packages not installed here
            continue
        if _backbone_of(cfg.get('model', {}), old) is not None:
            yield path, cfg


def distinct_swapped_backbones(package: str = 'mmdet', old: str = 'ResNet',
                               new: str = 'IResNet') -> Dict[str, dict]:
    """Every distinct ``old`` backbone config of the zoo, swapped to ``new``
    (key: its text; value: the dict), with the first config using it."""
    found: Dict[str, dict] = {}
    for path, cfg in zoo_backbones(package, old):
        backbone = copy.deepcopy(_backbone_of(cfg.to_dict()['model'], old))
        swap_backbone_type(dict(backbone=backbone), old, new)
        key = repr(sorted(backbone.items()))
        found.setdefault(key, dict(backbone, _config=path))
    return found
