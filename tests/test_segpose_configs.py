"""The shipped segmentation (ADE20K, Cityscapes) and pose (COCO keypoints)
configs build in their codebase's registry, ask for the official ImageNet
weights by name, and give the features the config's own ResNet gives.

The oracle is the base config itself: mmseg's ``ResNetV1c`` / mmpose's
``ResNet`` built from the same dict, whose per-stage output sizes (output
stride 8 for the ``-d8`` recipes, 32 for UPerNet and SimpleBaseline) and
widths the swapped backbone must reproduce; the whole model (decode and
auxiliary heads, keypoint head) runs on the swapped backbone's features.
"""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import ConfigDict

from mm_iresnet.configs import (load_config, pretrained_checkpoints,
                                without_pretrained)
from mm_iresnet.weights import WeightsError
from .test_config_fidelity import chain, resolve

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(
    osp.relpath(p, ROOT)
    for folder in ('ade20k', 'cityscapes', 'coco_keypoints')
    for p in glob.glob(osp.join(ROOT, 'configs', folder, '*.py')))


def test_every_task_has_its_configs():
    folders = [c.split('/')[1] for c in CONFIGS]
    assert folders.count('ade20k') == 6
    assert folders.count('cityscapes') == 6
    assert folders.count('coco_keypoints') == 1


def _build(model_cfg, scope):
    from mmengine.registry import MODELS, init_default_scope
    init_default_scope(scope)
    return MODELS.build(model_cfg)


@pytest.mark.parametrize('name', CONFIGS)
def test_config_builds_and_matches_its_resnet(name, tmp_path):
    pytest.importorskip('mmseg' if 'keypoints' not in name else 'mmpose')
    cfg = load_config(osp.join(ROOT, name))
    scope = cfg.default_scope
    assert scope in ('mmseg', 'mmpose')
    # the official weights by name, nothing of ResNet's
    assert pretrained_checkpoints(
        cfg.model) == [f'iresnet://iresnet{cfg.model.backbone.depth}']
    with pytest.raises(WeightsError, match='MM_IRESNET_OFFLINE'):
        _build(cfg.model, scope).init_weights()
    ours = _build(without_pretrained(cfg).model, scope)
    ours.init_weights()
    assert type(ours.backbone).__name__.startswith('IResNet')
    assert ours.backbone.deep_stem is False  # the official weights' stem

    reference = resolve(chain(osp.join(ROOT, name))[0], tmp_path)
    # built, never initialised
    theirs = _build(ConfigDict(reference['model']), scope)
    ours.eval(), theirs.eval()
    x = torch.randn(1, 3, 64, 96)
    head = 'decode_head' if scope == 'mmseg' else 'head'
    with torch.no_grad():
        mine, control = ours.backbone(x), theirs.backbone(x)
        assert [tuple(f.shape) for f in mine] == \
            [tuple(f.shape) for f in control]
        # the whole model's head on the swapped backbone's features
        out = getattr(ours, head)(list(mine))
        expected = getattr(theirs, head)(list(control))
    assert out.shape == expected.shape
    assert torch.isfinite(out).all()
    if scope == 'mmseg' and cfg.model.get('auxiliary_head'):
        with torch.no_grad():
            aux = ours.auxiliary_head(list(mine))
        assert aux.shape[1] == cfg.model.auxiliary_head.num_classes
