"""mmdet's and mmaction2's own tools (``tools/train.py --resume``,
``tools/test.py CONFIG CHECKPOINT``, shipped in their wheels) and inference
APIs on the demo configs, which import the package through
``custom_imports``: the checkpoints mmengine writes load under the package's
load rule, and a checkpoint with a pickle payload is refused where torch's
default load is ``weights_only`` (torch >= 2.6)."""
import os
import os.path as osp

import pytest
import torch

from mm_iresnet.checkpoint import NATIVE_ALLOWLIST
from .helpers import moving_shapes_overrides
from .test_tools import run_tool, tiny_overrides

DETECTION = 'configs/demo/faster_rcnn_iresnet18_shapes.py'
RECOGNITION = 'configs/demo/i3d_iresnet18_moving_shapes.py'


class Payload:
    """Unpickling it runs a shell command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


def _tool(package: str, name: str) -> str:
    """``tools/NAME.py`` as the installed package ships it."""
    module = __import__(package)
    path = osp.join(osp.dirname(module.__file__), '.mim', 'tools', name)
    assert osp.isfile(path), path
    return path


def _run(args, cwd):
    proc = run_tool(None, args, cwd=str(cwd))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return out


def _resume_and_test(package, config, overrides, metric, tmp_path):
    """Train 4 iterations saving every 2, resume a second run from the
    2nd, test its last checkpoint, all with ``package``'s own tools;
    returns that checkpoint."""
    train = [_tool(package, 'train.py'), config]
    first, second = tmp_path / 'first', tmp_path / 'resumed'
    _run(train + ['--work-dir', str(first), '--cfg-options'] + overrides,
         tmp_path)
    out = _run(
        train + [
            '--work-dir',
            str(second), '--resume',
            str(first / 'iter_2.pth'), '--cfg-options'
        ] + overrides, tmp_path)
    assert 'resumed' in out.lower() and 'Iter(train) [4/4]' in out
    assert 'Iter(train) [1/4]' not in out  # it went on from iteration 2
    checkpoint = second / 'iter_4.pth'
    out = _run([
        _tool(package, 'test.py'), config,
        str(checkpoint), '--work-dir',
        str(tmp_path / 'test'), '--cfg-options'
    ] + overrides, tmp_path)
    assert metric in out
    return checkpoint


def _refused_by_test_tool(package, config, checkpoint, overrides, tmp_path):
    """The checkpoint plus a pickle payload: the tool fails, nothing runs."""
    marker = tmp_path / 'payload_ran'
    ckpt = torch.load(checkpoint)
    ckpt['payload'] = Payload(marker)
    bad = tmp_path / 'bad.pth'
    torch.save(ckpt, bad)
    proc = run_tool(
        None,
        [
            _tool(package, 'test.py'), config,
            str(bad), '--work-dir',
            str(tmp_path / 'bad'), '--cfg-options'
        ] + overrides,
        cwd=str(tmp_path))
    assert proc.returncode != 0
    assert 'system' in proc.stderr
    assert not marker.exists()


@pytest.mark.slow
def test_mmdet_tools_resume_test_and_infer(root, tmp_path):
    from mmdet.apis import init_detector
    config = osp.join(root, DETECTION)

    overrides = tiny_overrides(
        tmp_path / 'shapes', iters=4) + [
            'default_hooks.checkpoint.interval=2',
            'default_hooks.checkpoint.max_keep_ckpts=-1'
        ]

    checkpoint = _resume_and_test('mmdet', config, overrides, 'coco/bbox_mAP',
                                  tmp_path)
    model = init_detector(config, str(checkpoint), device='cpu')
    saved = torch.load(checkpoint)['state_dict']
    assert torch.equal(model.backbone.conv1.weight,
                       saved['backbone.conv1.weight'])
    if NATIVE_ALLOWLIST:
        _refused_by_test_tool('mmdet', config, checkpoint, overrides, tmp_path)


@pytest.mark.slow
def test_mmaction_tools_resume_test_and_infer(root, tmp_path):
    from mmaction.apis import init_recognizer
    config = osp.join(root, RECOGNITION)

    overrides = moving_shapes_overrides(tmp_path / 'clips', 6, 4) + [
        'model.backbone.base_channels=8', 'model.cls_head.in_channels=64',
        'default_hooks.checkpoint.interval=2',
        'default_hooks.checkpoint.max_keep_ckpts=-1'
    ]

    checkpoint = _resume_and_test('mmaction', config, overrides, 'acc/top1',
                                  tmp_path)
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    cfg.merge_from_dict({
        'model.backbone.base_channels': 8,
        'model.cls_head.in_channels': 64
    })
    model = init_recognizer(cfg, str(checkpoint), device='cpu')
    saved = torch.load(checkpoint)['state_dict']
    assert torch.equal(model.backbone.conv1.weight,
                       saved['backbone.conv1.weight'])
    if NATIVE_ALLOWLIST:
        _refused_by_test_tool('mmaction', config, checkpoint, overrides,
                              tmp_path)


def test_tools_are_importable_scripts():
    """The tools this file runs are where the wheels put them."""
    for package in ('mmdet', 'mmaction'):
        for name in ('train.py', 'test.py'):
            assert _tool(package, name).endswith(name)
