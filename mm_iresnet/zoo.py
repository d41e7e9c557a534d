"""Swap ResNet for IResNet in the configs shipped with mmdet / mmaction2.

Used by ``tools/analysis/zoo_swap_check.py`` (every zoo config, whole
detectors) and by the tests (every distinct backbone of the zoo).
"""
import copy
import glob
import os.path as osp
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from mmengine.config import Config

from .deps import require

__all__ = [
    'zoo_config_files', 'UNLOADABLE_HERE', 'load_zoo_config',
    'swap_backbone_type', 'zoo_backbones', 'ACTION_SWAPS', 'counterpart',
    'action_zoo', 'cleared_backbone', 'distinct_by_backbone'
]


def zoo_config_files(package: str = 'mmdet') -> List[str]:
    """Every non-base config in an installed package's ``.mim/configs``."""
    module = require(package)
    root = osp.join(osp.dirname(module.__file__), '.mim', 'configs')
    return sorted(
        f for f in glob.glob(osp.join(root, '**', '*.py'), recursive=True)
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


#: why a shipped zoo config may not load here, the only failures a zoo
#: walk skips: a package it imports is not installed (mmdet's ConvNeXt and
#: RTMDet classification configs import mmpretrain), or a base config it
#: names is not shipped (mmdet's sort/ and bytetrack/ MOT configs); any
#: other failure raises
UNLOADABLE_HERE = (ImportError, FileNotFoundError)


def load_zoo_config(path: str) -> Optional[Config]:
    """The config at ``path``, or None where it cannot load in this
    environment (:data:`UNLOADABLE_HERE`)."""
    try:
        return Config.fromfile(path)
    except UNLOADABLE_HERE:
        return None


def zoo_backbones(package: str = 'mmdet',
                  old: str = 'ResNet') -> Iterator[Tuple[str, Config]]:
    """(config path, loaded config) of each zoo config with an ``old``
    backbone; configs that cannot load in this environment
    (:data:`UNLOADABLE_HERE`) are skipped."""
    for path in zoo_config_files(package):
        cfg = load_zoo_config(path)
        if cfg is None:
            continue
        if _backbone_of(cfg.get('model', {}), old) is not None:
            yield path, cfg


def distinct_swapped_backbones(package: str = 'mmdet',
                               old: str = 'ResNet',
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


#: mmaction2 backbone type -> its iResNet counterpart
ACTION_SWAPS = {
    'ResNet': 'IResNet',
    'ResNetTSM': 'IResNetTSM',
    'ResNet3d': 'IResNet3d',
    'ResNet3dSlowOnly': 'IResNet3dSlowOnly',
    'ResNet3dSlowFast': 'IResNet3dSlowFast',
    'ResNet3dCSN': 'IResNet3dCSN',
    'ResNet2Plus1d': 'IResNet2Plus1d',
    'TANet': 'ITANet',
    'C2D': 'IC2D',
    'RGBPoseConv3D': 'IRGBPoseConv3D',
}


def counterpart(kind: str) -> Optional[str]:
    """The iResNet type of an mmaction2 backbone type, keeping a scope
    prefix (``mmaction.ResNet3dSlowOnly`` -> ``mmaction.IResNet3dSlowOnly``,
    as the detection configs name it); None for a type outside the
    family."""
    scope, _, name = kind.rpartition('.')
    if name not in ACTION_SWAPS:
        return None
    return f'{scope}.{ACTION_SWAPS[name]}' if scope else ACTION_SWAPS[name]


def action_zoo(folders: Sequence[str]) -> List[Tuple[str, Config]]:
    """(path, loaded config) of each config of mmaction2's installed zoo
    under ``folders`` (e.g. 'skeleton') whose model's backbone has an
    iResNet counterpart; configs that cannot load in this environment
    (:data:`UNLOADABLE_HERE`) are skipped."""
    found = []
    for path in zoo_config_files('mmaction'):
        parts = path.split(osp.sep)
        if not any(f in parts for f in folders):
            continue
        cfg = load_zoo_config(path)
        if cfg is None:
            continue
        backbone = cfg.get('model', {}).get('backbone')
        if isinstance(backbone, dict) and \
                counterpart(backbone.get('type', '')):
            found.append((path, cfg))
    return found


def cleared_backbone(backbone: dict) -> dict:
    """A zoo backbone without its pretrained weights (they belong to the
    other network, and tests do not download)."""
    backbone = dict(backbone)
    backbone.pop('init_cfg', None)
    backbone['pretrained'] = None
    if backbone['type'].rpartition('.')[2] == 'ResNetTSM':
        backbone['pretrained2d'] = False  # else it loads pretrained=None
    return backbone


def _types(cfg) -> set:
    """Every ``type`` named inside a config."""
    if isinstance(cfg, dict):
        own = {cfg['type']} if isinstance(cfg.get('type'), str) else set()
        return own.union(*map(_types, cfg.values()))
    if isinstance(cfg, (list, tuple)):
        return set().union(*map(_types, cfg))
    return set()


def distinct_by_backbone(
        configs: Sequence[Tuple[str, Config]]) -> List[Tuple[str, Config]]:
    """The first config of each distinct backbone (pretrained weights
    aside) among the models built of the same component types (a detector
    with a feature-bank head is not one with a plain head)."""
    seen, out = set(), []
    for path, cfg in configs:
        model = cfg.model.to_dict()
        key = repr(sorted(cleared_backbone(model['backbone']).items())) + \
            repr(sorted(_types(model)))
        if key not in seen:
            seen.add(key)
            out.append((path, cfg))
    return out


def _clip_len(cfg: Config, default: int):
    """The frames the config's training pipeline samples per clip."""
    for step in cfg.get('train_pipeline', []):
        if 'clip_len' in step:
            return step['clip_len']
    return default


def _num_classes(model_cfg: dict) -> int:
    head = model_cfg.get('cls_head') or \
        model_cfg.get('roi_head', {}).get('bbox_head', {})
    return head['num_classes']


def zoo_batch(cfg: Config, size: int = 32) -> dict:
    """A batch of one sample shaped as the config's own data (its model's
    input channels and modalities, its clip length), ``size`` pixels
    wide: RGB clips, keypoint heatmap volumes (PoseC3D), both at their
    frame-rate and resolution ratio (RGBPoseConv3D), audio features, or a
    clip with person proposals and multi-label boxes (the AVA detectors'
    ``ActionDataSample``) -- what mmaction2's data pipeline packs."""
    import torch
    from mmaction.structures import ActionDataSample
    from mmengine.structures import InstanceData
    model = cfg.model
    classes = _num_classes(model)
    # img_key: the AVA dataset's 'video,second' (the LFB heads key on it)
    sample = ActionDataSample(
        metainfo=dict(img_shape=(size, size), img_key='video0,0902'))
    gen = torch.Generator().manual_seed(0)

    def clip(*shape):
        return torch.rand(*shape, generator=gen) * 255

    if model['type'] == 'FastRCNN':
        boxes = torch.tensor([[0.1, 0.1, 0.6, 0.9], [0.4, 0.2, 0.95, 0.8]
                              ]) * size
        labels = torch.zeros(2, classes)
        labels[0, 1] = labels[1, 2] = labels[1, 5 % classes] = 1
        sample.proposals = InstanceData(bboxes=boxes)
        sample.gt_instances = InstanceData(bboxes=boxes, labels=labels)
        frames = _clip_len(cfg, 8)
        return dict(
            inputs=[clip(3, frames, size, size)], data_samples=[sample])
    sample.set_gt_label(1)
    if model['type'] == 'MMRecognizer3D':
        lengths = _clip_len(cfg, dict(RGB=8, Pose=32))
        ratio = model['backbone'].get('speed_ratio', 4)
        return dict(
            inputs=dict(
                imgs=[clip(1, 3, lengths['RGB'], size, size)],
                heatmap_imgs=[
                    clip(
                        1, model['backbone']['pose_pathway'].get(
                            'in_channels', 17), lengths['RGB'] * ratio,
                        size // 4, size // 4)
                ]),
            data_samples=[sample])
    if model['type'] == 'RecognizerAudio':
        inputs = clip(1, model['backbone'].get('in_channels', 1),
                      _clip_len(cfg, 64), size)
    else:
        channels = model['backbone'].get('in_channels', 3)
        frames = _clip_len(cfg, 8)
        if isinstance(frames, dict):  # one modality of RGBPose's sampler
            frames, = frames.values()
        inputs = clip(1, channels, min(frames, 16), size, size)
    return dict(inputs=[inputs], data_samples=[sample])


def zoo_loss_step(model_cfg: dict, data: dict):
    """Build the model (mmaction2's registry), one loss step with backward
    on ``data``; returns the model. Raises if the loss is not finite."""
    import torch
    from mmaction.registry import MODELS
    from mmengine.config import ConfigDict
    model = MODELS.build(ConfigDict(model_cfg))  # heads read cfg.attr
    model.init_weights()
    model.train()
    batch = model.data_preprocessor(copy.deepcopy(data), training=True)
    loss, _ = model.parse_losses(model(**batch, mode='loss'))
    if not torch.isfinite(loss):
        raise FloatingPointError(f'loss {loss}')
    loss.backward()
    return model


def zoo_model_pair(cfg: Config) -> Tuple[dict, dict]:
    """(control, swapped) model configs of a zoo config: mmaction2's own
    backbone with its weights cleared, and the iResNet counterpart; the
    whole-model ``init_cfg`` (the detectors' pretrained checkpoint) is
    dropped from both."""
    model = copy.deepcopy(cfg.model.to_dict())
    model.pop('init_cfg', None)
    model['backbone'] = cleared_backbone(model['backbone'])
    old = model['backbone']['type']
    ours = copy.deepcopy(model)
    swap_backbone_type(ours, old, counterpart(old))
    return model, ours
