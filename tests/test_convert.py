"""Checkpoint conversion and safe loading (mm_iresnet.convert)."""
import sys

import pytest
import torch

from mm_iresnet.convert import (CheckpointError, check_state_dict,
                                convert_file, load_state_dict_file)
from mm_iresnet.models import IResNet
from .fixtures.official.make_fixtures import official_state_dict
from .helpers import load_fixture, rel_err, run_process, zip_strict


def _official(tmp_path, prefix='module.'):
    """The official iresnet18 of the fixtures as a DataParallel checkpoint
    (its fixture holds master's outputs)."""
    fixture = load_fixture('master_babdc4f', 'iresnet18')
    path = tmp_path / 'official.pth'
    torch.save(
        {
            'state_dict': {
                prefix + k: v
                for k, v in official_state_dict(fixture['keys']).items()
            }
        }, path)
    return fixture, str(path)


def test_official_iresnet_converts_with_the_tool(tmp_path, root):
    fixture, path = _official(tmp_path)
    out = str(tmp_path / 'mm.pth')
    tool = [
        sys.executable, f'{root}/tools/convert_checkpoint.py', path, out,
        '--src', 'iresnet'
    ]
    proc = run_process(tool, timeout=300, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "for ordering='resstage' (the ordering it was trained with)" \
        in proc.stdout
    assert "'depth': 18" in proc.stdout
    model = IResNet(depth=18, init_cfg=dict(type='Pretrained', checkpoint=out))
    model.init_weights()
    model.eval()
    with torch.no_grad():
        for a, b in zip_strict(model(fixture['input']), fixture['stages']):
            assert rel_err(a, b) <= 1e-5
    # asking for the paper's ordering works, says so and warns
    proc = run_process(
        tool + ['--ordering', 'resstage_paper'],
        timeout=300,
        capture_output=True,
        text=True)
    assert proc.returncode == 0, proc.stderr
    assert "for ordering='resstage_paper' (NOT the ordering it was " \
        "trained with ('resstage'))" in proc.stdout
    assert "trained with ordering='resstage'" in proc.stderr
    assert torch.load(
        out, weights_only=True)['meta']['arch']['ordering'] == 'resstage_paper'


def test_torchvision_resnet_converts_to_original_ordering(tmp_path):
    from mmdet.models.backbones import ResNet
    resnet = ResNet(depth=18, base_channels=8)
    resnet.eval()
    sd = dict(resnet.state_dict(), **{
        'fc.weight': torch.zeros(10, 64),
        'fc.bias': torch.zeros(10)
    })
    torch.save(sd, tmp_path / 'tv.pth')
    arch = convert_file(
        str(tmp_path / 'tv.pth'), str(tmp_path / 'o.pth'), 'torchvision')
    assert arch['depth'] == 18 and arch['ordering'] == 'original'
    model = IResNet(**arch)
    model.load_state_dict(torch.load(tmp_path / 'o.pth')['state_dict'])
    model.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip_strict(model(x), resnet(x)):
            torch.testing.assert_close(a, b)


def test_truncated_checkpoint(tmp_path):
    _, path = _official(tmp_path)
    data = open(path, 'rb').read()
    bad = tmp_path / 'cut.pth'
    bad.write_bytes(data[:len(data) // 2])
    with pytest.raises(CheckpointError, match='truncated or not a'):
        load_state_dict_file(str(bad))
    text = tmp_path / 'text.pth'
    text.write_text('hello')
    with pytest.raises(CheckpointError):
        load_state_dict_file(str(text))


class Payload:
    """Stands for any pickled object a checkpoint could smuggle in."""


def test_pickle_payload_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save(
        {
            'state_dict': {
                'conv1.weight': torch.zeros(1)
            },
            'payload': Payload()
        }, path)
    with pytest.raises(CheckpointError, match='weights_only'):
        load_state_dict_file(str(path))


def test_mismatch_report_names_keys():
    model = IResNet(depth=18, base_channels=4)
    sd = model.state_dict()
    sd.pop('layer1.0.conv1.weight')
    sd['extra.weight'] = torch.zeros(1)
    sd['conv1.weight'] = torch.zeros(1, 1, 1, 1)
    with pytest.raises(CheckpointError) as err:
        check_state_dict(model, sd)
    msg = str(err.value)
    assert 'missing keys (1): layer1.0.conv1.weight' in msg
    assert 'unexpected keys (1): extra.weight' in msg
    assert 'conv1.weight: checkpoint (1, 1, 1, 1) vs model (4, 3, 7, 7)' \
        in msg
