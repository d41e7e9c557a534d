"""The ResNet-family configs of mmsegmentation's and mmpose's installed zoo,
grouped by model, with a loss step of the whole model on a tiny batch of
each config's own shape (tests/test_segpose_zoo.py).

A group is every config whose model dict is the same once what the swap
does not touch is set aside (the data preprocessor, the test settings,
pretrained weights; SyncBN read as BN, one process here) and whose tiny
input is the same; one loss step stands for the group.

The step runs the model at an eighth of its widths (:func:`narrowed`):
the backbone's ``base_channels`` and ``stem_channels`` and every width of
the neck and heads divided by :data:`WIDTH_DIVISOR`, the depth, strides,
dilations, class and keypoint counts kept, the same for the control and
the swap. A pose config keeps its input size and codec; a segmentation
config's crop is shrunk to a shorter side of 64 (:func:`seg_input_size`).
At full width one PSPNet R-101-d8 build and step on a 64x64 pair takes
about 2 s on one CPU thread, and the two zoos make 318 groups (over 20
minutes for control and swap); at an eighth, 0.15 s. Each distinct
backbone is also built at its full width on the meta device
(:func:`meta_build`: shapes without memory or arithmetic), control and
swap, to compare parameter counts and output shapes.
"""
import copy
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config, ConfigDict

from mm_iresnet.zoo import zoo_config_files

#: original type -> iResNet counterpart, in each codebase's registry
SWAPS = dict(
    mmseg=dict(
        ResNet='IResNet', ResNetV1c='IResNetV1c', ResNetV1d='IResNetV1d'),
    mmpose=dict(ResNet='IResNet', ResNetV1d='IResNetV1d'))
#: the divisor of every width in the loss step (see the module docstring)
WIDTH_DIVISOR = 8
#: the shorter side of a segmentation config's tiny input
SEG_SHORT_SIDE = 64
#: model keys the swap does not touch (set aside when grouping)
ASIDE = ('data_preprocessor', 'test_cfg', 'init_cfg', 'pretrained')


def rel(path: str) -> str:
    """The path under the package's configs/, '/' between folders."""
    return path.split(f'configs{osp.sep}')[-1].replace(osp.sep, '/')


def family_zoo(
        package: str) -> Tuple[List[Tuple[str, Config]], Dict[str, str]]:
    """(path, config) of each config of ``package``'s zoo ('mmseg' or
    'mmpose') whose top-level backbone has an iResNet counterpart, and
    {config: error} of the configs that do not load here (any backbone)."""
    found, unloadable = [], {}
    for path in zoo_config_files(package):
        try:
            cfg = Config.fromfile(path)
        except Exception as e:  # noqa: BLE001 - reported, not hidden
            unloadable[rel(path)] = f'{type(e).__name__}: {e}'
            continue
        backbone = (cfg.get('model') or {}).get('backbone')
        if isinstance(backbone, dict) and \
                backbone.get('type', '').rpartition('.')[2] in SWAPS[package]:
            found.append((path, cfg))
    return found, unloadable


def _bn(cfg):
    """``cfg`` with every SyncBN read as BN (one process here)."""
    if isinstance(cfg, dict):
        return {
            k: 'BN' if k == 'type' and v == 'SyncBN' else _bn(v)
            for k, v in cfg.items()
        }
    if isinstance(cfg, (list, tuple)):
        return type(cfg)(_bn(v) for v in cfg)
    return cfg


def model_of(cfg: Config) -> dict:
    """The config's model as a plain dict, SyncBN read as BN, the weights
    it would load (whole-model and backbone) dropped."""
    model = _bn(cfg.model.to_dict())
    model.pop('init_cfg', None)
    model.pop('pretrained', None)
    model['backbone'].pop('init_cfg', None)
    model['backbone'].pop('pretrained', None)  # mmpose's ResNet has none
    return model


def seg_input_size(cfg: Config) -> Tuple[int, int]:
    """(h, w) of the tiny input: the config's crop, the shorter side
    :data:`SEG_SHORT_SIDE`, rounded to a multiple of 8."""
    h, w = cfg.model.get('data_preprocessor', {}).get('size') or \
        cfg.get('crop_size')
    scale = SEG_SHORT_SIDE / min(h, w)
    return tuple(max(8, round(s * scale / 8) * 8) for s in (h, w))


def group_key(package: str, cfg: Config) -> str:
    """What a group shares: the model less :data:`ASIDE`, and the input
    (a segmentation config's tiny crop; a pose config's codec)."""
    model = model_of(cfg)
    for key in ASIDE:
        model.pop(key, None)
    shape = seg_input_size(cfg) if package == 'mmseg' else cfg.get('codec')
    return repr(model) + repr(shape)


def zoo_groups(
    package: str, configs: Sequence[Tuple[str, Config]]
) -> 'OrderedDict[str, List[Tuple[str, Config]]]':
    """The configs by :func:`group_key`, in the zoo's order."""
    groups = OrderedDict()
    for path, cfg in configs:
        groups.setdefault(group_key(package, cfg), []).append((path, cfg))
    return groups


# ------------------------------------------------------------- the models
def swapped(model: dict, package: str) -> dict:
    """A copy of ``model`` with the backbone type its counterpart."""
    model = copy.deepcopy(model)
    scope, _, name = model['backbone']['type'].rpartition('.')
    new = SWAPS[package][name]
    model['backbone']['type'] = f'{scope}.{new}' if scope else new
    return model


def _narrow_value(value, divisor):
    if isinstance(value, (list, tuple)):
        return type(value)(_narrow_value(v, divisor) for v in value)
    if isinstance(value, int) and not isinstance(value, bool):
        return -(-value // divisor)  # rounded up: DeepLabV3+ R-18's 12
    return value


def _is_width(key: str, cfg: dict, package: str) -> bool:
    """Whether ``cfg[key]`` is a feature width: ``in_channels``,
    ``channels``, ``*_channels``, ``embed_dims``, ``num_feats``; an
    ``out_channels`` only in mmseg and where it is not the class count
    (mmpose's is the keypoint count)."""
    if key == 'out_channels':
        return package == 'mmseg' and cfg[key] != cfg.get('num_classes')
    return key in ('channels', 'embed_dims', 'num_feats') or \
        key.endswith('_channels')


def _narrow(cfg, package, divisor):
    if isinstance(cfg, dict):
        return {
            k:
            _narrow_value(v, divisor) if _is_width(k, cfg, package)
            and v is not None else _narrow(v, package, divisor)
            for k, v in cfg.items()
        }
    if isinstance(cfg, (list, tuple)):
        return type(cfg)(_narrow(v, package, divisor) for v in cfg)
    return cfg


def narrowed(model: dict, package: str, divisor: int = WIDTH_DIVISOR) -> dict:
    """``model`` with the backbone's ``base_channels`` and
    ``stem_channels`` (64 unless given) and every width of the other
    components (:func:`_is_width`) divided by ``divisor``."""
    backbone = dict(model['backbone'])
    for key in ('base_channels', 'stem_channels'):
        backbone[key] = (backbone.get(key) or 64) // divisor
    rest = {k: v for k, v in model.items() if k != 'backbone'}
    return dict(_narrow(rest, package, divisor), backbone=backbone)


def build(package: str, model: dict):
    """The model from ``package``'s registry, in its scope."""
    from mmengine.registry import DefaultScope
    scope = dict(mmseg='mmseg', mmpose='mmpose')[package]
    registry = __import__(f'{package}.registry', fromlist=['MODELS']).MODELS
    with DefaultScope.overwrite_default_scope(scope):
        return registry.build(ConfigDict(copy.deepcopy(model)))


def meta_build(package: str, model: dict):
    """The model built on the meta device: every module and parameter
    shape, no memory, no initialisation arithmetic."""
    with torch.device('meta'):
        return build(package, model)


def loss_step(package: str, model_cfg: dict, data: dict):
    """Build the model, one loss step with backward on ``data``; returns
    (model, loss). Raises if the loss is not finite."""
    from mmengine.registry import DefaultScope
    torch.manual_seed(0)
    model = build(package, model_cfg)
    with DefaultScope.overwrite_default_scope(package):
        model.init_weights()
        model.train()
        batch = model.data_preprocessor(copy.deepcopy(data), training=True)
        loss, _ = model.parse_losses(model(**batch, mode='loss'))
    if not torch.isfinite(loss):
        raise FloatingPointError(f'loss {loss}')
    loss.backward()
    return model, loss


# -------------------------------------------------------------- the data
def _decode_heads(model: dict) -> list:
    head = model['decode_head']
    return list(head) if isinstance(head, (list, tuple)) else [head]


def seg_model(cfg: Config) -> dict:
    """:func:`model_of`, its preprocessor padding to the tiny input."""
    model = model_of(cfg)
    model['data_preprocessor']['size'] = seg_input_size(cfg)
    return model


def seg_batch(cfg: Config, n: int = 2) -> dict:
    """``n`` images of the config's tiny input with semantic labels of its
    decode head's classes, a band of each ignored (BN after a global pool
    needs two samples in training)."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    head = _decode_heads(cfg.model)[-1]
    # K-Net's iterative head: its kernel-generating head's classes
    head = head.get('kernel_generate_head', head)
    h, w = seg_input_size(cfg)
    gen = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for _ in range(n):
        # a 4x4 grid of regions, one class each (as images have a few
        # classes, not every one: Mask2Former matches each present one)
        labels = torch.randint(
            0, head['num_classes'], (1, 1, 4, 4), generator=gen)
        labels = torch.nn.functional.interpolate(
            labels.float(), (h, w), mode='nearest').long()[0]
        labels[:, :h // 8] = head.get('ignore_index', 255)
        sample = SegDataSample(
            metainfo=dict(
                img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w)))
        sample.gt_sem_seg = PixelData(data=labels)
        inputs.append(torch.rand(3, h, w, generator=gen) * 255)
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def pose_metainfo(cfg: Config) -> dict:
    """The keypoint meta information of the config's training dataset:
    its own ``metainfo``, else its class's (DeepFashion's class chooses it
    by ``subset`` when built: built without annotations where it can)."""
    from mmengine.registry import DefaultScope
    from mmpose.datasets.datasets.utils import parse_pose_metainfo
    from mmpose.registry import DATASETS
    dataset = cfg.train_dataloader.dataset
    if dataset.get('metainfo'):
        return parse_pose_metainfo(dataset.metainfo)
    try:
        with DefaultScope.overwrite_default_scope('mmpose'):
            return DATASETS.build(dict(dataset, lazy_init=True,
                                       pipeline=[])).metainfo
    except AssertionError:  # wants its annotation files at build time
        return DATASETS.get(dataset.type)._load_metainfo()


def _pose_sample(meta: dict, codec: dict, rng) -> dict:
    """One person with every keypoint visible, in a 300x400 image, as a
    dataset hands it to the pipeline after ``LoadImage`` (3D keypoints,
    camera and hand type for a 3D codec)."""
    k = meta['num_keypoints']
    xy = rng.uniform([60, 80], [240, 320], (1, k, 2))
    sample = dict(
        img=rng.integers(0, 256, (400, 300, 3), dtype=np.uint8),
        img_shape=(400, 300),
        ori_shape=(400, 300),
        id=0,
        img_id=0,
        img_path='',
        category_id=1,
        bbox=np.array([[50, 70, 250, 330]], np.float32),
        bbox_score=np.ones(1, np.float32),
        keypoints=xy.astype(np.float32),
        keypoints_visible=np.ones((1, k), np.float32),
        **{
            key: meta[key]
            for key in ('flip_indices', 'upper_body_ids', 'lower_body_ids',
                        'dataset_name')
        })
    if 'depth_size' in codec:  # Hand3DHeatmap: InterHand2.6M's fields
        depth = rng.uniform(-50, 50, (1, k, 1))
        sample.update(
            keypoints=np.concatenate([xy, depth], -1).astype(np.float32),
            keypoints_cam=np.zeros((1, k, 3), np.float32),
            rel_root_depth=np.float32(10),
            rel_root_valid=np.float32(1),
            hand_type=np.array([[1, 1]], np.float32),
            hand_type_valid=np.ones(1, np.float32),
            abs_depth=[500, 510],
            focal=np.array([1500, 1500], np.float32),
            principal_pt=np.array([150, 200], np.float32),
            rotation=0)
    return sample


def pose_batch(cfg: Config, n: int = 2) -> dict:
    """``n`` samples through the config's own training pipeline (its
    flips, crops and affine to its input size, targets made by its codec,
    packing), ``LoadImage`` replaced by an image in memory."""
    from mmcv.transforms import Compose
    from mmengine.registry import DefaultScope
    meta = pose_metainfo(cfg)
    steps = [s for s in cfg.train_pipeline if s['type'] != 'LoadImage']
    rng = np.random.default_rng(0)
    np.random.seed(0)  # the random transforms draw from numpy's
    with DefaultScope.overwrite_default_scope('mmpose'):
        pipeline = Compose(copy.deepcopy(steps))
        packed = [
            pipeline(_pose_sample(meta, cfg.codec, rng)) for _ in range(n)
        ]
    return dict(
        inputs=[p['inputs'] for p in packed],
        data_samples=[p['data_samples'] for p in packed])
