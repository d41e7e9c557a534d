"""Reading mmdet / mmaction2 configs: loading one, the checkpoints its model
initialises from, a copy without them, and the dataset a loader reads.

The command-line tools, the deployment functions and the checkpoint tools
all go through these, so a config means the same thing to each of them.
"""
import copy
import os.path as osp
from typing import Iterable, Iterator, List, Optional, Tuple, Union

from mmengine.config import Config

__all__ = [
    'load_config', 'pretrained_checkpoints', 'without_pretrained',
    'innermost_dataset', 'loader_datasets'
]


def load_config(config: Union[str, Config],
                cfg_options: Optional[dict] = None) -> Config:
    """A new Config from a file (FileNotFoundError naming it when missing) or
    a copy of ``config``, with ``cfg_options`` merged in (mmengine's
    ``DictAction`` form, ``{'model.backbone.depth': 18}``)."""
    if isinstance(config, Config):
        cfg = Config(copy.deepcopy(config.to_dict()))
    elif not osp.isfile(config):
        raise FileNotFoundError(f'config file {config!r} not found')
    else:
        cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def _owners(obj, key: str) -> Iterator[Tuple[dict, object]]:
    """(dict, value) for every ``key`` anywhere in a nested config."""
    if isinstance(obj, dict):
        for k, v in list(obj.items()):
            if k == key:
                yield obj, v
            yield from _owners(v, key)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _owners(v, key)


def _is_pretrained_init(entry) -> bool:
    return isinstance(entry, dict) and entry.get('type') == 'Pretrained'


def pretrained_checkpoints(model: dict) -> List:
    """The checkpoints a model config initialises from, anywhere in it (a
    SlowFast pathway included): ``Pretrained`` init_cfg entries (mmdet,
    mmengine) and ``pretrained=`` arguments (mmaction2 backbones)."""
    return [owner['checkpoint'] for owner, _ in _owners(model, 'checkpoint')
            if _is_pretrained_init(owner)] + \
        [value for _, value in _owners(model, 'pretrained')
         if isinstance(value, str)]


def _drop_pretrained_inits(init_cfg):
    """``init_cfg`` without its ``Pretrained`` entries (None when nothing
    is left of a single entry)."""
    if isinstance(init_cfg, (list, tuple)):
        return [e for e in init_cfg if not _is_pretrained_init(e)]
    return None if _is_pretrained_init(init_cfg) else init_cfg


def without_pretrained(cfg: Config) -> Config:
    """A copy of ``cfg`` whose model initialises from no checkpoint: every
    ``Pretrained`` init_cfg entry is removed (the others, e.g. ``Kaiming``,
    kept) and every ``pretrained=`` path is None, wherever they are in the
    model. ``cfg`` itself is unchanged. For runs whose weights come from a
    trained checkpoint instead (testing, export)."""
    out = load_config(cfg)
    model = out.get('model')
    for owner, value in list(_owners(model, 'init_cfg')):
        owner['init_cfg'] = _drop_pretrained_inits(value)
    for owner, value in list(_owners(model, 'pretrained')):
        if isinstance(value, str):
            owner['pretrained'] = None
    return out


def innermost_dataset(dataset: Optional[dict]) -> dict:
    """The dataset config a (possibly wrapped: ``RepeatDataset``,
    ``ClassBalancedDataset``, ...) dataset config reads from."""
    dataset = dataset or {}
    while isinstance(dataset.get('dataset'), dict):
        dataset = dataset['dataset']
    return dataset


def loader_datasets(cfg: Config,
                    phases: Iterable[str]) -> Iterator[Tuple[str, dict]]:
    """(phase, innermost dataset config) of each ``{phase}_dataloader`` the
    config has, in the order of ``phases``."""
    for phase in phases:
        loader = cfg.get(f'{phase}_dataloader')
        if loader:
            yield phase, innermost_dataset(loader.get('dataset'))
