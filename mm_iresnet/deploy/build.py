"""Building a model for deployment: the model of a config with the weights
of a trusted checkpoint, in eval mode and deploy form (every BN that
directly follows a conv folded into it)."""
import os.path as osp
from typing import List, Optional, Tuple, Union

import torch.nn as nn
from mmengine.config import Config

from ..checkpoint import restricted_torch_load
from ..configs import load_config, without_pretrained

__all__ = [
    'switch_to_deploy', 'build_model', 'read_trusted_checkpoint',
    'load_weights', 'build_deploy_model'
]


def switch_to_deploy(model: nn.Module) -> List[str]:
    """Call ``switch_to_deploy()`` on the outermost modules of ``model``
    that have it (the iResNet backbones, or each SlowFast pathway); returns
    the folded norms' names."""

    def walk(module, prefix):
        if hasattr(module, 'switch_to_deploy'):
            return [f'{prefix}{n}' for n in module.switch_to_deploy()]
        return [
            name for child_name, child in module.named_children()
            for name in walk(child, f'{prefix}{child_name}.')
        ]

    return walk(model, '')


def build_model(cfg: Config) -> nn.Module:
    """The model of ``cfg`` in the registries of its ``default_scope``, as
    built (no weights loaded: :func:`load_weights` or ``init_weights``)."""
    from mmengine.registry import MODELS, init_default_scope
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    return MODELS.build(cfg.model)


def read_trusted_checkpoint(path: str) -> dict:
    """The checkpoint at ``path``, loaded as ``tools/test.py`` reads its
    CHECKPOINT: tensors and the types mmengine's training checkpoints hold,
    nothing else (:func:`~mm_iresnet.checkpoint.restricted_torch_load`)."""
    from mmengine.runner.checkpoint import _load_checkpoint
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint {path!r} not found')
    with restricted_torch_load():
        checkpoint = _load_checkpoint(path, map_location='cpu')
    if not isinstance(checkpoint, dict):
        raise TypeError(f'{path}: holds no state dict')
    return checkpoint


def load_weights(model: nn.Module, checkpoint: dict) -> bool:
    """Load ``checkpoint`` (:func:`read_trusted_checkpoint`) into ``model``
    with mmengine's loader, every key required to fit (RuntimeError naming
    the missing, unexpected and mis-shaped ones). A checkpoint written by
    ``tools/reparameterize_model.py`` (``meta['deploy']``: BN already
    folded) switches ``model`` to its deploy form first. Returns whether
    it did."""
    from mmengine.runner.checkpoint import _load_checkpoint_to_model
    meta = checkpoint.get('meta')
    folded = isinstance(meta, dict) and bool(meta.get('deploy'))
    if folded:
        switch_to_deploy(model)
    _load_checkpoint_to_model(model, checkpoint, strict=True)
    return folded


def build_deploy_model(config: Union[str, Config],
                       checkpoint: Union[str, dict, None] = None,
                       cfg_options: Optional[dict] = None,
                       deploy: bool = True) -> Tuple[nn.Module, Config]:
    """The model of ``config`` with the weights of ``checkpoint``, in eval
    mode and (``deploy``) deploy form; returns it and the config it was
    built from.

    ``checkpoint`` is a file the caller names, loaded with the types of
    mmengine's training checkpoints allowed (:func:`read_trusted_checkpoint`),
    or a checkpoint read so already; one
    written by ``tools/reparameterize_model.py`` (already folded) loads too.
    Without a checkpoint the model keeps its initialisation. Pretrained
    weights named in the config are not loaded
    (:func:`~mm_iresnet.configs.without_pretrained`): the checkpoint
    replaces them.
    """
    cfg = without_pretrained(load_config(config, cfg_options))
    if isinstance(checkpoint, str):
        checkpoint = read_trusted_checkpoint(checkpoint)
    model = build_model(cfg)
    if checkpoint is None:
        model.init_weights()
    folded = checkpoint is not None and load_weights(model, checkpoint)
    model.eval()
    if deploy and not folded:
        switch_to_deploy(model)
    return model, cfg
