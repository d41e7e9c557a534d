"""torch.compile: the backbones trace whole, and --compile trains right.

``torch._dynamo.explain`` traces without compiling (seconds, no inductor),
so every preset and ordering is checked in 2D and the 3D / TSM networks too;
two runs through tools/train.py compile for real.
"""
import os.path as osp
import sys

import pytest
import torch
import torch._dynamo as dynamo

from mm_iresnet.models import (ORDERINGS, PRESETS, IResNet, IResNet3d,
                               IResNet3dSlowOnly, IResNetTSM)
from .helpers import nonempty


def graph_breaks(model, x):
    dynamo.reset()
    explanation = dynamo.explain(model.train())(x)
    return explanation.graph_break_count, [
        str(r.reason) for r in explanation.break_reasons
    ]


def small(preset):
    kwargs = dict(PRESETS[preset], base_channels=8)
    if 'Group' in preset:
        kwargs.update(base_channels=32, stem_channels=8, groups=4)
    return kwargs


CASES = [(f'preset {p}', small(p)) for p in sorted(PRESETS)
         ] + [(f'ordering {o}', dict(ordering=o, base_channels=8))
              for o in sorted(ORDERINGS)]


@pytest.mark.parametrize(
    'kwargs', [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_2d_backbones_trace_without_graph_breaks(kwargs):
    model = IResNet(depth=50, **kwargs)
    assert graph_breaks(model, torch.rand(2, 3, 64, 64)) == (0, [])


@pytest.mark.parametrize('cls,kwargs,shape', [
    (IResNet3d,
     dict(
         depth=50,
         out_indices=(0, 1, 2, 3),
         conv1_stride_t=2,
         pool1_stride_t=2), (1, 3, 8, 64, 64)),
    (IResNet3dSlowOnly, dict(depth=50), (1, 3, 4, 64, 64)),
    (IResNet3d, dict(depth=50, **small('IResGroup')), (1, 3, 4, 64, 64)),
    (IResNetTSM, dict(depth=50, num_segments=2), (4, 3, 64, 64)),
])
def test_video_backbones_trace_without_graph_breaks(cls, kwargs, shape):
    model = cls(**dict(dict(base_channels=8), **kwargs))
    assert graph_breaks(model, torch.rand(*shape)) == (0, [])


def test_a_graph_break_is_seen():
    """The check can fail: a data-dependent Python branch breaks the
    graph."""
    model = IResNet(depth=18, base_channels=4)
    forward = model.forward

    def with_break(x):
        if x.sum() > 0:  # data-dependent control flow
            x = x * 1
        return forward(x)

    model.forward = with_break
    count, _ = graph_breaks(model, torch.rand(1, 3, 32, 32))
    assert count >= 1


# ------------------------------------------------ tools/train.py --compile
def test_compile_flag_names_parts():
    from mm_iresnet.cli import compile_parts
    assert compile_parts(None) == []
    assert compile_parts([]) == ['backbone']
    assert compile_parts(['backbone', 'neck', 'neck']) == ['backbone', 'neck']
    assert compile_parts(['model']) == ['model']
    with pytest.raises(ValueError, match='whole model'):
        compile_parts(['model', 'neck'])


@pytest.mark.slow
def test_compiled_video_training_matches_eager(root, tmp_path):
    """The I3D demo, 3 deterministic SGD steps: with the backbone compiled
    the weights end where eager training ends, under the same names."""
    from .test_reliability import (assert_same_weights,
                                   deterministic_video_overrides, run,
                                   train_cmd, weights)
    overrides = deterministic_video_overrides(tmp_path / 'data', 3, 4, 3)
    for name, extra in (('eager', ()), ('compiled', ('--compile', ))):
        proc = run([sys.executable] +
                   train_cmd(root, tmp_path / name, overrides, extra),
                   tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'torch.compile: backbone (IResNet3d)' in proc.stdout + proc.stderr
    assert_same_weights(
        weights(tmp_path / 'compiled' / 'iter_3.pth'),
        weights(tmp_path / 'eager' / 'iter_3.pth'))


@pytest.mark.slow
def test_compiled_detection_demo_trains_and_tests(root, tmp_path):
    from .test_tools import run_tool, tiny_overrides
    demo = osp.join(root, 'configs', 'demo', 'faster_rcnn_iresnet18_shapes.py')
    overrides = tiny_overrides(tmp_path / 'shapes', iters=4)
    proc = run_tool(
        root,
        [
            osp.join(root, 'tools', 'train.py'), demo, '--work-dir',
            str(tmp_path / 'w'), '--compile', 'backbone', 'neck',
            '--cfg-options'
        ] + overrides,
        cwd=str(tmp_path))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert 'torch.compile: backbone (IResNet)' in out
    assert 'torch.compile: neck (FPN)' in out
    assert 'coco/bbox_mAP' in out
    keys = torch.load(
        tmp_path / 'w' / 'iter_4.pth', map_location='cpu',
        weights_only=False)['state_dict']
    assert 'backbone.layer1.0.conv1.weight' in keys
    assert not any('_orig_mod' in k for k in nonempty(keys))
    proc = run_tool(
        root,
        [
            osp.join(root, 'tools', 'test.py'), demo,
            str(tmp_path / 'w' / 'iter_4.pth'), '--work-dir',
            str(tmp_path / 't'), '--compile', '--cfg-options'
        ] + overrides,
        cwd=str(tmp_path))
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert 'coco/bbox_mAP' in proc.stdout + proc.stderr
