"""Every distinct ResNet backbone of mmdet's installed zoo works as IResNet
with only the type swapped (and the torchvision init dropped)."""
import copy

import pytest
import torch
from mmengine.registry import init_default_scope

from mm_iresnet.zoo import distinct_swapped_backbones

from .helpers import nonempty
from .test_semantics import assert_same_semantics

BACKBONES = list(distinct_swapped_backbones().values())


def test_zoo_scan_found_the_variety():
    text = repr(BACKBONES)
    assert len(BACKBONES) >= 50
    for needle in ("'caffe'", 'SyncBN', "'GN'", 'ConvWS', "'DCN'", 'DCNv2',
                   'ContextBlock', 'GeneralizedAttention',
                   "'num_stages': 3", "'dilations': (1, 1, 1, 2)",
                   "'requires_grad': False"):
        assert needle in text, needle


@pytest.mark.slow
@pytest.mark.parametrize('cfg', BACKBONES,
                         ids=[f'{i}-{b["depth"]}' for i, b in
                              enumerate(BACKBONES)])
def test_swapped_backbone_builds_and_runs(cfg):
    from mmdet.registry import MODELS
    init_default_scope('mmdet')
    cfg = copy.deepcopy(cfg)
    cfg.pop('_config')
    ours = MODELS.build(cfg)
    theirs = MODELS.build(dict(cfg, type='ResNet'))
    # frozen stages, norm_eval, requires_grad as ResNet's: per top-level
    # child, total and trainable parameters, norms in train / eval mode
    assert_same_semantics(ours, theirs)
    ours.eval(), theirs.eval()
    x = torch.rand(1, 3, 160, 160)
    with torch.no_grad():
        out, ref = ours(x), theirs(x)
    assert isinstance(out, tuple)
    assert [o.shape for o in out] == [r.shape for r in ref]
    assert all(torch.isfinite(o).all() for o in nonempty(out))
