"""Parity with the official iResNet code, whose real outputs are the oracle.

``tests/fixtures/official/`` holds the outputs of the unchanged official code
(github iduta/iresnet) at master babdc4f (the network of the published
ImageNet checkpoints) and at the unmerged pull request 310124e (the paper's
one-ReLU-per-stage reading), with the recipe that rebuilds their weights.
Each official state dict goes through the package's converter (the code of
``tools/convert_checkpoint.py``), loads strictly into the matching preset and
ordering, and must give the official stage outputs and logits.
"""
import pytest
import torch
import torch.nn.functional as F
from mmcv.cnn import fuse_conv_bn

from mm_iresnet.convert import convert_file
from mm_iresnet.models import (PRESETS, IResGroup, IResGroupFix, IResNet,
                               IResNet3d, ResStageNet)
from .fixtures.official.make_fixtures import official_state_dict
from .helpers import load_fixture, rel_err, zip_strict

#: folder -> (this package's ordering for it, the ordering's name there)
VERSIONS = {'master_babdc4f': 'resstage', 'pr_310124e': 'resstage_paper'}
#: official model -> (converter source, preset)
MODELS = {
    'iresnet18': ('iresnet', IResNet),
    'iresnet50': ('iresnet', IResNet),
    'iresnet101': ('iresnet', IResNet),
    'resstage50': ('resstage', ResStageNet),
    'iresgroup50': ('iresgroup', IResGroup),
    'iresgroupfix50': ('iresgroupfix', IResGroupFix),
}
TOLERANCE = 1e-5


def convert_official(tmp_path, fixture, src, ordering=None):
    """Rebuild the official state dict, convert it as the tool does;
    returns (backbone arguments, converted file contents)."""
    src_path, out = tmp_path / 'official.pth', tmp_path / 'converted.pth'
    torch.save(official_state_dict(fixture['keys']), src_path)
    arch = convert_file(
        str(src_path), str(out), src, ordering=ordering, keep_classifier=True)
    return arch, torch.load(out, weights_only=True)


def build(name, ordering, arch, state_dict):
    """The preset for the released ordering, the same arguments with the
    other ordering otherwise; loaded strictly, in eval mode."""
    _, preset = MODELS[name]
    if ordering == 'resstage':
        model = preset(depth=arch['depth'], out_indices=(0, 1, 2, 3))
    else:
        model = IResNet(
            depth=arch['depth'],
            out_indices=(0, 1, 2, 3),
            **dict(PRESETS[preset.__name__], ordering=ordering))
    model.load_state_dict(state_dict, strict=True)
    return model.eval()


def stage_and_logit_errors(model, fixture, classifier):
    with torch.no_grad():
        stages = model(fixture['input'].clone())
        logits = F.linear(stages[-1].mean((2, 3)), classifier['weight'],
                          classifier['bias'])
    return [rel_err(a, b)
            for a, b in zip_strict(stages, fixture['stages'])] + \
        [rel_err(logits, fixture['logits'])]


@pytest.mark.parametrize('version', sorted(VERSIONS))
@pytest.mark.parametrize('name', sorted(MODELS))
def test_matches_official_outputs(tmp_path, version, name):
    fixture = load_fixture(version, name)
    ordering = VERSIONS[version]
    src, _ = MODELS[name]
    if ordering == 'resstage':  # what every official checkpoint is
        arch, converted = convert_official(tmp_path, fixture, src)
    else:
        with pytest.warns(
                UserWarning, match='trained with ordering='
                "'resstage'"):
            arch, converted = convert_official(tmp_path, fixture, src,
                                               ordering)
    assert arch['ordering'] == ordering
    model = build(name, ordering, arch, converted['state_dict'])
    errors = stage_and_logit_errors(model, fixture, converted['classifier'])
    assert max(errors) <= TOLERANCE, errors


@pytest.mark.parametrize('name', ['iresnet18', 'iresnet50'])
def test_the_two_official_versions_differ(tmp_path, name):
    """The oracle can fail: each ordering is far from the other version's
    outputs (so the tests above tell them apart)."""
    fixture = load_fixture('pr_310124e', name)
    arch, converted = convert_official(tmp_path, fixture, 'iresnet')
    model = build(name, 'resstage', arch, converted['state_dict'])
    errors = stage_and_logit_errors(model, fixture, converted['classifier'])
    assert min(errors[1:]) > 0.05, errors


def test_default_iresnet_is_the_released_network(tmp_path):
    """A plain IResNet(depth=50), as every config builds it, reproduces
    master's outputs through the converted file and init_cfg."""
    fixture = load_fixture('master_babdc4f', 'iresnet50')
    convert_official(tmp_path, fixture, 'iresnet')
    model = IResNet(
        depth=50,
        init_cfg=dict(
            type='Pretrained', checkpoint=str(tmp_path / 'converted.pth')))
    model.init_weights()
    model.eval()
    with torch.no_grad():
        stages = model(fixture['input'].clone())
    errors = [rel_err(a, b) for a, b in zip_strict(stages, fixture['stages'])]
    assert max(errors) <= TOLERANCE, errors


def test_paper_ordering_warns_when_loading_official_weights(tmp_path):
    fixture = load_fixture('master_babdc4f', 'iresnet18')
    convert_official(tmp_path, fixture, 'iresnet')
    model = IResNet(
        depth=18,
        ordering='resstage_paper',
        init_cfg=dict(
            type='Pretrained', checkpoint=str(tmp_path / 'converted.pth')))
    with pytest.warns(UserWarning, match="trained with ordering='resstage'"):
        model.init_weights()


@pytest.mark.parametrize('name', sorted(MODELS))
def test_mmcv_fuse_conv_bn_keeps_official_outputs(tmp_path, name):
    """mmcv's fuse_conv_bn (mmdet's --fuse-conv-bn) folds every BN that
    follows a conv in module order: the result must still be master's
    network."""
    fixture = load_fixture('master_babdc4f', name)
    arch, converted = convert_official(tmp_path, fixture, MODELS[name][0])
    model = fuse_conv_bn(
        build(name, 'resstage', arch, converted['state_dict']))
    assert isinstance(model.bn1, torch.nn.Identity)  # it folded the stem's
    errors = stage_and_logit_errors(model, fixture, converted['classifier'])
    assert max(errors) <= TOLERANCE, errors


def test_inflated_official_iresnet50_on_a_static_clip(tmp_path):
    """The converted iresnet50 inflated into the I3D-style IResNet3d (time
    padded by repeating frames) gives master's 2D stage outputs at every
    time step of a clip of identical frames."""
    fixture = load_fixture('master_babdc4f', 'iresnet50')
    convert_official(tmp_path, fixture, 'iresnet')
    model = IResNet3d(
        depth=50,
        pretrained=str(tmp_path / 'converted.pth'),
        pretrained2d=True,
        out_indices=(0, 1, 2, 3),
        conv1_kernel=(5, 7, 7),
        conv1_stride_t=2,
        pool1_stride_t=2,
        inflate=((1, 1, 1), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 1, 0)),
        conv_cfg=dict(type='Conv3dReplicateTime'))
    model.init_weights()
    assert not (model.inflation_report.missing
                or model.inflation_report.mismatched
                or model.inflation_report.unused)
    model.eval()
    clip = fixture['input'].unsqueeze(2).repeat(1, 1, 16, 1, 1)
    with torch.no_grad():
        stages = model(clip)
    assert [s.shape[2] for s in stages] == [2, 2, 2, 2]  # pool2 after 1
    for out3d, out2d in zip_strict(stages, fixture['stages']):
        for t in range(out3d.shape[2]):
            assert rel_err(out3d[:, :, t], out2d) <= TOLERANCE
