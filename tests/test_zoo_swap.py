"""Every distinct ResNet backbone of mmdet's installed zoo works as IResNet
with only the type swapped (and the torchvision init dropped); so does every
ResNet-family backbone of mmaction2's skeleton, detection and audio zoo
(its recognition zoo: tests/test_recognition.py)."""
import copy
import os.path as osp
from collections import Counter

import pytest
import torch
from mmengine.registry import init_default_scope

from mm_iresnet.zoo import (action_zoo, counterpart, distinct_by_backbone,
                            distinct_swapped_backbones, zoo_batch,
                            zoo_loss_step, zoo_model_pair)
from .helpers import nonempty, run_control
from .test_semantics import assert_same_semantics

BACKBONES = list(distinct_swapped_backbones().values())


def test_zoo_scan_found_the_variety():
    text = repr(BACKBONES)
    assert len(BACKBONES) >= 50
    for needle in ("'caffe'", 'SyncBN', "'GN'", 'ConvWS', "'DCN'", 'DCNv2',
                   'ContextBlock', 'GeneralizedAttention', "'num_stages': 3",
                   "'dilations': (1, 1, 1, 2)", "'requires_grad': False"):
        assert needle in text, needle


@pytest.mark.slow
@pytest.mark.parametrize(
    'cfg',
    BACKBONES,
    ids=[f'{i}-{b["depth"]}' for i, b in enumerate(BACKBONES)])
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


# --------------------------------------------------------------------------
# mmaction2's skeleton, spatio-temporal detection and audio zoo

#: the folders of mmaction2's zoo beside recognition/ (tests/test_recognition)
ACTION_FOLDERS = ('skeleton', 'detection', 'recognition_audio')
ACTION_ZOO = action_zoo(ACTION_FOLDERS)
#: one config per distinct backbone and set of model components
ACTION_CASES = distinct_by_backbone(ACTION_ZOO)
#: the configs of the walk whose control (mmaction2's own backbone) fails
#: here, with the text of its error: the LFB heads read a precomputed
#: feature bank from data/ava/lfb_half at build time (docs/video.md). Any
#: other control failure fails the walk, and so does one of these that runs.
LFB_BANK = 'lfb prefix path data/ava/lfb_half does not exist'
CONTROL_FAILS = {
    'detection/lfb/slowonly-lfb-max_kinetics400-pretrained-r50_8xb12-'
    '4x16x1-20e_ava21-rgb.py':
    LFB_BANK,
    'detection/lfb/slowonly-lfb-nl_kinetics400-pretrained-r50_8xb12-'
    '4x16x1-20e_ava21-rgb.py':
    LFB_BANK,
}


def _rel(path):
    """The path under mmaction2's configs/, with '/' between folders."""
    return path.split(f'configs{osp.sep}')[-1].replace(osp.sep, '/')


def test_expected_control_failures_are_configs_of_the_walk():
    assert set(CONTROL_FAILS) <= {_rel(p) for p, _ in ACTION_CASES}


def test_a_control_failure_counts_only_where_listed():
    """The walks' control (``run_control``): a listed config skips only on
    its own error; any other failure, and a listed config that runs, fail
    the test."""

    def fails():
        raise ValueError(LFB_BANK + '!')

    def runs():
        pass

    def outcome(step, name, listed):
        # caught here: a skip escaping would skip this test, not fail it
        try:
            run_control(step, name, listed, 'own')
        except pytest.skip.Exception as e:
            return 'skip', str(e)
        except pytest.fail.Exception as e:
            return 'fail', str(e)
        return 'ran', ''

    listed = {'a.py': LFB_BANK}
    kind, text = outcome(fails, 'a.py', listed)
    assert kind == 'skip' and 'expected control failure, 1 in this walk: ' \
        'own fails on a.py: ValueError: ' + LFB_BANK in text, text
    kind, text = outcome(fails, 'b.py', listed)
    assert kind == 'fail' and 'not an expected control failure' in text
    kind, text = outcome(fails, 'a.py', {'a.py': 'other'})
    assert kind == 'fail' and 'listed with: other' in text
    kind, text = outcome(runs, 'a.py', listed)
    assert kind == 'fail' and 'take it off the list' in text
    assert outcome(runs, 'b.py', listed) == ('ran', '')


def test_action_zoo_scan_found_every_family_backbone():
    kinds = Counter(cfg.model.backbone.type for _, cfg in ACTION_ZOO)
    folders = Counter(_rel(p).split('/')[0] for p, _ in ACTION_ZOO)
    print('\nmmaction2 zoo configs per backbone type:', dict(kinds),
          'per folder:', dict(folders), f'distinct: {len(ACTION_CASES)}')
    # PoseC3D (3-stage SlowOnly on heatmaps), RGBPose, its one-modality
    # variants; AVA / AVA-Kinetics / MultiSports detectors by scoped name
    assert kinds['ResNet3dSlowOnly'] >= 8 and kinds['RGBPoseConv3D'] >= 1
    assert kinds['mmaction.ResNet3dSlowOnly'] >= 15
    assert kinds['mmaction.ResNet3dSlowFast'] >= 8
    assert kinds['ResNet'] >= 1  # the audio TSN
    assert any('multisports' in p for p, _ in ACTION_ZOO)
    # mmaction2's ResNetAudio has no counterpart (see docs/video.md)
    assert 'ResNetAudio' not in kinds


def test_zoo_walks_skip_only_configs_that_cannot_load_here(
        tmp_path, monkeypatch):
    """A config importing a package not installed, or naming a base config
    not shipped, is skipped by both walks; any other failure to load (a
    syntax error here) raises instead of dropping the config."""
    import mm_iresnet.zoo as zoo
    folder = tmp_path / 'recognition'
    folder.mkdir()
    (folder / 'needs_a_package.py').write_text(
        "custom_imports = dict(imports=['no_such_package_here'],\n"
        '                      allow_failed_imports=False)\n'
        "model = dict(backbone=dict(type='ResNet'))\n")
    (folder / 'needs_a_base.py').write_text("_base_ = ['./not_shipped.py']\n")
    (folder /
     'loads.py').write_text("model = dict(backbone=dict(type='ResNet'))\n")
    files = sorted(str(p) for p in folder.iterdir())
    monkeypatch.setattr(zoo, 'zoo_config_files', lambda package: files)
    assert [osp.basename(p) for p, _ in zoo.action_zoo(['recognition'])] \
        == ['loads.py']
    assert [osp.basename(p) for p, _ in zoo.zoo_backbones('mmdet')] == \
        ['loads.py']
    broken = folder / 'broken.py'
    broken.write_text("model = dict(backbone=dict(type='ResNet')\n")
    files.append(str(broken))
    with pytest.raises(SyntaxError):
        zoo.action_zoo(['recognition'])
    with pytest.raises(SyntaxError):
        list(zoo.zoo_backbones('mmdet'))


def test_scoped_counterparts_resolve_where_the_originals_do():
    """``mmaction.IResNet3dSlowOnly`` (the detection configs' spelling)
    finds the counterpart from mmaction's and from mmdet's registry."""
    from mmaction.registry import MODELS as ACTION
    from mmdet.registry import MODELS as DET
    for registry in (ACTION, DET):
        for old, new in (('ResNet3dSlowOnly', 'IResNet3dSlowOnly'),
                         ('ResNet3dSlowFast', 'IResNet3dSlowFast'),
                         ('RGBPoseConv3D', 'IRGBPoseConv3D')):
            assert registry.get(f'mmaction.{old}') is not None
            assert registry.get(f'mmaction.{new}').__name__ == new


@pytest.mark.slow
@pytest.mark.parametrize(
    'path,cfg', ACTION_CASES, ids=[_rel(p)[:70] for p, _ in ACTION_CASES])
def test_action_zoo_runs_a_loss_step_with_the_type_swapped(
        path, cfg, tmp_path, monkeypatch):
    """Where a config's model runs a loss step with mmaction2's own backbone
    (weights cleared) on a tiny batch of the config's own shape -- heatmap
    volumes, RGB + pose, audio features, clips with person proposals --
    it runs with only the backbone type changed to its counterpart."""
    monkeypatch.chdir(tmp_path)  # the LFB heads create data/ava/... there
    init_default_scope('mmaction')
    control, ours = zoo_model_pair(cfg)
    data = zoo_batch(cfg)
    run_control(lambda: zoo_loss_step(control, data), _rel(path),
                CONTROL_FAILS, f"mmaction2's own "
                f"{control['backbone']['type']}")
    model = zoo_loss_step(ours, data)
    expected = counterpart(cfg.model.backbone.type).rpartition('.')[2]
    # mmaction's registry holds the mmaction flavour of IResNet
    assert type(model.backbone).__name__ == \
        {'IResNet': 'IResNetAction'}.get(expected, expected)
    grads = [p.grad for p in model.backbone.parameters() if p.requires_grad]
    assert grads and any(g is not None and g.abs().sum() > 0 for g in grads)
