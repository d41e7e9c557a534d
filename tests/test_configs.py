"""mm_iresnet.configs: loading a config, the checkpoints its model
initialises from, a copy without them, the dataset a loader reads."""
import os.path as osp

import pytest
from mmengine.config import Config

from mm_iresnet.configs import (innermost_dataset, load_config,
                                loader_datasets, pretrained_checkpoints,
                                without_pretrained)
from mm_iresnet.weights import WeightsError


def test_load_config_copies_and_merges(root):
    path = osp.join(root, 'configs', 'demo', 'faster_rcnn_iresnet18_shapes.py')
    cfg = load_config(path, {'model.backbone.depth': 34})
    assert cfg.model.backbone.depth == 34
    copy = load_config(cfg, {'model.neck.out_channels': 8})
    assert copy.model.neck.out_channels == 8
    assert copy.model.backbone.depth == 34
    assert cfg.model.neck.out_channels != 8  # the caller's config unchanged
    copy.model.backbone.depth = 50
    assert cfg.model.backbone.depth == 34
    with pytest.raises(FileNotFoundError, match='nowhere.py'):
        load_config(osp.join(root, 'nowhere.py'))


def test_without_pretrained_drops_every_kind_and_keeps_the_rest():
    """Pretrained init_cfg entries (alone or in a list) go, other init
    entries stay, every pretrained= path is None, nested anywhere; the
    caller's config is unchanged."""
    cfg = Config(
        dict(
            model=dict(
                backbone=dict(
                    type='IResNet3dSlowFast',
                    pretrained='whole.pth',
                    slow_pathway=dict(
                        pretrained='iresnet://iresnet50', pretrained2d=True),
                    fast_pathway=dict(pretrained=None)),
                neck=dict(init_cfg=[
                    dict(type='Xavier', layer='Conv2d'),
                    dict(type='Pretrained', checkpoint='n.pth')
                ]),
                head=dict(
                    init_cfg=dict(
                        type='Pretrained', checkpoint='h.pth', prefix='head')),
                other=dict(init_cfg=dict(type='Normal', std=0.01)))))
    before = cfg.to_dict()
    assert sorted(pretrained_checkpoints(
        cfg.model)) == ['h.pth', 'iresnet://iresnet50', 'n.pth', 'whole.pth']
    out = without_pretrained(cfg)
    assert pretrained_checkpoints(out.model) == []
    assert out.model.backbone.pretrained is None
    assert out.model.backbone.slow_pathway.pretrained is None
    assert out.model.backbone.slow_pathway.pretrained2d is True
    assert out.model.neck.init_cfg == [dict(type='Xavier', layer='Conv2d')]
    assert out.model.head.init_cfg is None
    assert out.model.other.init_cfg == dict(type='Normal', std=0.01)
    assert cfg.to_dict() == before


SLOWFAST_18 = {
    'model.backbone.slow_pathway.depth': 18,
    'model.backbone.fast_pathway.depth': 18,
    'model.cls_head.in_channels': 512 + 64,
    'model.backbone.slow_pathway.pretrained': 'iresnet://iresnet50',
    'model.backbone.fast_pathway.pretrained': 'iresnet://iresnet50'
}


@pytest.mark.parametrize(
    'config,options',
    [
        ('coco/faster_rcnn_iresnet50.py', {}),  # init_cfg Pretrained
        ('kinetics400/i3d_iresnet50_32x2x1_k400.py', {}),  # pretrained=
        ('kinetics400/slowfast_iresnet50_8x8x1_k400.py', SLOWFAST_18),
    ])
def test_without_pretrained_models_initialise_offline(root, config, options):
    """The oracle is mmengine's own initialisation: the config as written
    asks for official weights (refused offline: none is cached in the
    tests); without_pretrained's copy builds and initialises with nothing
    to load."""
    from mmengine.registry import MODELS, init_default_scope
    cfg = load_config(osp.join(root, 'configs', config), options)
    init_default_scope(cfg.default_scope)
    assert pretrained_checkpoints(cfg.model)
    with pytest.raises(WeightsError, match='MM_IRESNET_OFFLINE'):
        MODELS.build(cfg.model).init_weights()
    MODELS.build(without_pretrained(cfg).model).init_weights()


def test_innermost_dataset_and_loaders():
    inner = dict(type='CocoDataset', ann_file='a.json')
    cfg = Config(
        dict(
            train_dataloader=dict(
                dataset=dict(
                    type='RepeatDataset',
                    times=2,
                    dataset=dict(
                        type='ClassBalancedDataset',
                        oversample_thr=1e-3,
                        dataset=inner))),
            val_dataloader=dict(
                dataset=dict(type='CocoDataset', ann_file='v')),
            test_dataloader=None))
    assert innermost_dataset(cfg.train_dataloader.dataset) == inner
    assert innermost_dataset(None) == {}
    assert [(p, d['ann_file'])
            for p, d in loader_datasets(cfg, ('test', 'val', 'train'))
            ] == [('val', 'v'), ('train', 'a.json')]
