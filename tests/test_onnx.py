"""ONNX export (tools/deployment/export_onnx.py, mm_iresnet.deploy) and
parity with PyTorch in onnxruntime."""
import argparse
import os
import os.path as osp
import sys

import numpy as np
import pytest
import torch

from mm_iresnet.deploy import (export_module, export_onnx, make_session,
                               rel_errors)
from mm_iresnet.models import ORDERINGS, PRESETS, IResNet, IResNet3d
from mm_iresnet.models.layouts import POSITIONS, block_position
from .helpers import (moving_shapes_overrides, randomise_bn, run_process,
                      zip_strict)
from .scripts import load_script

pytest.importorskip(
    'onnxruntime',
    reason='the deploy extra is not '
    'installed: pip install "mm_iresnet[deploy]"')

#: every block position occurs: single, start, first_end (2 blocks),
#: first_middle, middle and end (4 blocks)
STAGE_BLOCKS = (1, 2, 4, 1)
TOL = 1e-4


def small_backbone(cls=IResNet, **kwargs):
    torch.manual_seed(0)
    kwargs.setdefault('base_channels', 8)
    model = cls(
        depth=None, stage_blocks=STAGE_BLOCKS, block='bottleneck', **kwargs)
    model.init_weights()
    return randomise_bn(model, 0.5).eval()


def assert_parity(model, path, inputs):
    """ORT on ``path`` matches the eval-mode PyTorch ``model`` (unfolded)
    on every input to TOL; returns the largest relative error."""
    with torch.no_grad():
        refs = [model(x) for x in inputs]
    session = make_session(path)
    worst = 0
    for x, ref in zip_strict(inputs, refs):
        ref = ref if isinstance(ref, tuple) else (ref, )
        errs = rel_errors(session.run(None, {'inputs': x.numpy()}), ref)
        assert len(errs) == len(ref) and max(errs) <= TOL, errs
        worst = max(worst, max(errs))
    return worst


def folded_copy(model):
    import copy
    deployed = copy.deepcopy(model)
    assert deployed.switch_to_deploy()
    return deployed


CASES = [(f'preset-{p}', dict(PRESETS[p])) for p in sorted(PRESETS)] + \
    [(f'ordering-{o}', dict(PRESETS['IResNet'], ordering=o))
     for o in sorted(ORDERINGS)]


@pytest.mark.parametrize('name,kwargs', CASES, ids=[c[0] for c in CASES])
def test_backbone_exports_and_matches(tmp_path, name, kwargs):
    """Every preset and every ordering: the folded network, exported with
    dynamic batch and size, runs in onnxruntime with the outputs of the
    unfolded PyTorch network at two input shapes."""
    if kwargs.get('groups', 1) != 1:  # iResGroup, narrower
        kwargs.update(base_channels=32, stem_channels=8, groups=4)
    model = small_backbone(**kwargs)
    path = str(tmp_path / 'backbone.onnx')
    x = torch.randn(1, 3, 64, 64)
    export_module(
        folded_copy(model), x, path, axes=('batch', 'height', 'width'))
    worst = assert_parity(model, path, [x, torch.randn(2, 3, 96, 80)])
    print(f'\n{name}: largest relative error {worst:.1e}')


def test_every_block_position_is_exported():
    assert {block_position(j, n)
            for n in STAGE_BLOCKS
            for j in range(n)} == set(POSITIONS)


def test_3d_backbone_exports_with_dynamic_time(tmp_path):
    model = small_backbone(
        IResNet3d,
        out_indices=(0, 1, 2, 3),
        conv1_stride_t=2,
        pool1_stride_t=2)
    path = str(tmp_path / 'backbone3d.onnx')
    x = torch.randn(1, 3, 8, 32, 32)
    export_module(
        folded_copy(model),
        x,
        path,
        kind='backbone3d',
        axes=('batch', 'time', 'height', 'width'))
    worst = assert_parity(model, path, [x, torch.randn(2, 3, 12, 64, 48)])
    print(f'\nIResNet3d: largest relative error {worst:.1e}')


def test_an_opset_above_the_torchscript_exporters_is_refused(tmp_path):
    """The default opset is one the installed torch's TorchScript exporter
    writes (17 on torch 2.1, whose opset-18 ReduceMean onnx refuses); one
    above it is an error naming the highest, before any export."""
    from mm_iresnet.deploy.export import OPSET, _torchscript_max_opset
    top = _torchscript_max_opset()
    assert OPSET == min(18, top)
    path = tmp_path / 'x.onnx'
    with pytest.raises(
            ValueError,
            match=rf'^opset {top + 1}: the Torch'
            rf'Script exporter of torch \S+ writes opsets up to '
            rf'{top}$'):
        export_module(
            small_backbone(),
            torch.randn(1, 3, 32, 32),
            str(path),
            opset=top + 1)
    assert not path.exists()


#: torch.export.Dim.DYNAMIC, which the dynamo exporter's call needs (2.6)
DYNAMO_EXPORTER = hasattr(getattr(torch.export, 'Dim', None), 'DYNAMIC')


def test_dynamo_exporter_before_torch_2_6_is_one_error(tmp_path, monkeypatch):
    """Where torch lacks what the dynamo exporter needs (as torch < 2.6
    does; made so on a newer torch), asking for it is one error naming the
    version and the TorchScript exporter, and writes nothing."""
    monkeypatch.delattr(torch.export, 'Dim', raising=False)
    path = tmp_path / 'dynamo.onnx'
    with pytest.raises(
            RuntimeError,
            match=(
                r'^the dynamo exporter needs torch >= 2\.6, but torch \S+ is '
                r"installed: use the TorchScript exporter \(exporter='torch"
                r"script', --exporter torchscript\)$")):
        export_module(
            small_backbone(),
            torch.randn(1, 3, 32, 32),
            str(path),
            exporter='dynamo')
    assert not path.exists()


@pytest.mark.slow
@pytest.mark.skipif(
    not DYNAMO_EXPORTER,
    reason='the dynamo exporter needs '
    'torch >= 2.6 (the test above checks the error)')
@pytest.mark.parametrize('cls,shape,kind',
                         [(IResNet, (2, 3, 64, 64), 'detector'),
                          (IResNet3d, (2, 3, 8, 32, 32), 'backbone3d')])
def test_dynamo_exporter_matches(tmp_path, cls, shape, kind):
    pytest.importorskip('onnxscript')
    model = small_backbone(cls)
    path = str(tmp_path / 'dynamo.onnx')
    x = torch.randn(*shape)
    axes = ('batch', 'height', 'width')
    export_module(
        folded_copy(model), x, path, kind=kind, axes=axes, exporter='dynamo')
    y = torch.randn(3, *shape[1:-2], 96, 80)
    worst = assert_parity(model, path, [x, y])
    print(f'\n{cls.__name__}, dynamo exporter: largest relative error '
          f'{worst:.1e}')


# ---------------------------------------------------------------------
# whole models from configs
def test_faster_rcnn_demo_features_match(tmp_path, root):
    """The detector's backbone + neck (FPN), from a checkpoint through the
    export function, at the exported and at another batch and size."""
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope
    config = osp.join(root, 'configs', 'demo',
                      'faster_rcnn_iresnet18_shapes.py')
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(config).model)
    model.init_weights()
    randomise_bn(model, 0.5)
    ckpt = tmp_path / 'trained.pth'
    torch.save(dict(state_dict=model.state_dict(), meta={}), ckpt)
    out = str(tmp_path / 'det.onnx')
    info = export_onnx(
        config, str(ckpt), out, shape=(1, 3, 128, 128), dynamic=True)
    assert info['kind'] == 'detector' and info['outputs'] == [
        f'feat{i}' for i in range(5)
    ]
    assert info['dynamic'] == ['batch', 'height', 'width']
    assert max(info['rel_err']) <= TOL
    model.eval()
    worst = assert_parity(
        lambda x: tuple(model.extract_feat(x)), out,
        [torch.randn(1, 3, 128, 128),
         torch.randn(2, 3, 96, 160)])
    print(f'\nFaster R-CNN demo backbone + FPN: largest relative error '
          f'{worst:.1e}')

    # the whole detector with its features from onnxruntime: same boxes
    import copy

    from mmdet.testing import demo_mm_inputs

    from mm_iresnet.deploy import use_onnx_features
    hybrid = use_onnx_features(copy.deepcopy(model), out)
    data = model.data_preprocessor(
        demo_mm_inputs(
            batch_size=2, image_shapes=[(3, 128, 128), (3, 96, 128)]), False)
    with torch.no_grad():
        ref = model.predict(data['inputs'],
                            copy.deepcopy(data['data_samples']))
        got = hybrid.predict(data['inputs'], data['data_samples'])
    for a, b in zip_strict(got, ref):
        a, b = a.pred_instances, b.pred_instances
        assert len(b) > 0 and len(a) == len(b)
        torch.testing.assert_close(a.bboxes, b.bboxes, rtol=1e-4, atol=1e-3)
        torch.testing.assert_close(a.scores, b.scores, rtol=1e-4, atol=1e-5)
        assert torch.equal(a.labels, b.labels)


def test_fixed_axes_are_refused_naming_the_option(tmp_path, root):
    tsm = osp.join(root, 'configs', 'demo', 'tsm_iresnet18_moving_shapes.py')
    with pytest.raises(ValueError, match='num_segments=8'):
        export_onnx(tsm, None, str(tmp_path / 'x.onnx'), dynamic=['frames'])
    with pytest.raises(ValueError, match='not an axis'):
        export_onnx(tsm, None, str(tmp_path / 'x.onnx'), dynamic=['time'])
    with pytest.raises(ValueError, match='has 5 axes'):
        export_onnx(tsm, None, str(tmp_path / 'x.onnx'), shape=(8, 3, 32, 32))
    slowfast = osp.join(root, 'configs', 'kinetics400',
                        'slowfast_iresnet50_8x8x1_k400.py')
    with pytest.raises(ValueError, match=r'resample_rate=\d+ and speed_ratio'):
        export_onnx(slowfast, None, str(tmp_path / 'x.onnx'), dynamic=['time'])


def test_export_leaves_the_global_random_state_alone(tmp_path, root):
    """The example input comes from a generator of its own: the caller's
    torch random state is the same after an export, and two exports of
    one model use the same input."""
    from mm_iresnet.deploy import build_deploy_model
    config = osp.join(root, 'configs', 'demo',
                      'tsn_iresnet18_moving_shapes.py')
    model, _ = build_deploy_model(config)
    state = torch.get_rng_state()
    infos = [
        export_onnx(
            config,
            None,
            str(tmp_path / f'{i}.onnx'),
            shape=(1, 8, 3, 32, 32),
            model=model) for i in range(2)
    ]
    assert torch.equal(torch.get_rng_state(), state)
    assert infos[0]['rel_err'] == infos[1]['rel_err']


#: SlowOnly / SlowFast at depth 18 to stay cheap (their heads' widths)
SLOWONLY_18 = {'model.backbone.depth': 18, 'model.cls_head.in_channels': 512}
SLOWFAST_18 = {
    'model.backbone.slow_pathway.depth': 18,
    'model.backbone.fast_pathway.depth': 18,
    'model.cls_head.in_channels': 512 + 64
}


@pytest.mark.parametrize('config,options,shape,second', [
    ('demo/tsn_iresnet18_moving_shapes.py', {}, (1, 8, 3, 32, 32),
     (2, 8, 3, 48, 40)),
    ('demo/i3d_iresnet18_moving_shapes.py', {}, (1, 1, 3, 8, 32, 32),
     (2, 2, 3, 6, 48, 40)),
    pytest.param(
        'kinetics400/slowonly_iresnet50_8x8x1_k400.py',
        SLOWONLY_18, (1, 1, 3, 4, 32, 32), (2, 2, 3, 8, 64, 48),
        marks=pytest.mark.slow),
    pytest.param(
        'kinetics400/slowfast_iresnet50_8x8x1_k400.py',
        SLOWFAST_18, (1, 1, 3, 16, 32, 32), (2, 2, 3, 16, 64, 48),
        marks=pytest.mark.slow),
])
def test_recogniser_exports_whole(tmp_path, root, config, options, shape,
                                  second):
    """Clip in, averaged class scores out, as mmaction's predict computes
    them; every axis the model allows is dynamic (all but SlowFast's time
    and the frames of a TSM-headed clip)."""
    from mmaction.structures import ActionDataSample
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope
    cfg = Config.fromfile(osp.join(root, 'configs', config))
    cfg.merge_from_dict(options)
    init_default_scope('mmaction')
    if 'pretrained' in cfg.model.backbone:
        cfg.model.backbone.pretrained = None
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    randomise_bn(model, 0.5)
    model.eval()
    out = str(tmp_path / 'rec.onnx')
    info = export_onnx(
        cfg,
        None,
        out,
        shape=shape,
        dynamic=True,
        model=folded_copy_model(model))
    assert info['outputs'] == ['scores']
    assert ('time' in info['dynamic']) == ('slowfast' not in config
                                           and 'tsn' not in config)
    worst = 0
    for x in (torch.randn(*shape), torch.randn(*second)):
        with torch.no_grad():
            samples = [ActionDataSample() for _ in range(x.shape[0])]
            preds = model(x, samples, mode='predict')
        ref = torch.stack([p.pred_score for p in preds])
        got = make_session(out).run(None, {'inputs': x.numpy()})[0]
        assert got.shape == tuple(ref.shape)
        worst = max(worst, rel_errors([got], [ref])[0])
    assert worst <= TOL
    print(f'\n{config}: scores, largest relative error {worst:.1e}')


def folded_copy_model(model):
    import copy

    from mm_iresnet.deploy import switch_to_deploy
    deployed = copy.deepcopy(model)
    assert switch_to_deploy(deployed)
    return deployed


# ---------------------------------------------------------------------
# the trained demo checkpoints, through the tool
def video_overrides(data_root, iters):
    return moving_shapes_overrides(data_root, 12, iters) + [
        'train_dataloader.batch_size=4',
        'val_dataloader.batch_size=4',
        f'default_hooks.checkpoint.interval={iters}',
    ]


def export_tool(root):
    """tools/deployment/export_onnx.py as a module (run in this process)."""
    return load_script(root, 'tools', 'deployment', 'export_onnx.py')


def run_tool(root, args, cwd):
    env = dict(os.environ, PYTHONWARNINGS='ignore')
    return run_process(
        [sys.executable] + args,
        timeout=600,
        cwd=str(cwd),
        env=env,
        capture_output=True,
        text=True)


@pytest.mark.slow
@pytest.mark.parametrize('config,shape', [
    ('i3d_iresnet18_moving_shapes.py', '1 1 3 8 32 32'),
    ('tsm_iresnet18_moving_shapes.py', '1 8 3 32 32'),
])
def test_trained_demo_same_top1_in_onnxruntime(tmp_path, root, capsys, config,
                                               shape):
    """Train the demo a few iterations with tools/train.py, export the
    checkpoint with tools/deployment/export_onnx.py (dynamic batch), and
    classify the validation split in onnxruntime and in PyTorch."""
    from mmengine.config import Config, DictAction
    from mmengine.registry import MODELS, init_default_scope
    from mmengine.runner import Runner
    config = osp.join(root, 'configs', 'demo', config)
    iters = 4
    overrides = video_overrides(tmp_path / 'clips', iters)
    work = tmp_path / 'work'
    proc = run_tool(root, [
        osp.join(root, 'tools', 'train.py'), config, '--work-dir',
        str(work), '--cfg-options', *overrides
    ], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = str(work / f'iter_{iters}.pth')
    out = str(tmp_path / 'model.onnx')
    assert export_tool(root).main([
        config, ckpt, '--out', out, '--shape', *shape.split(), '--dynamic',
        '--cfg-options', *overrides
    ]) == 0
    printed = capsys.readouterr().out
    assert 'onnxruntime vs PyTorch, relative error' in printed
    assert 'dynamic axes: batch' in printed

    parser = argparse.ArgumentParser()
    parser.add_argument('--options', nargs='+', action=DictAction)
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(parser.parse_args(['--options', *overrides]).options)
    init_default_scope('mmaction')
    model = MODELS.build(cfg.model)
    state = torch.load(ckpt, map_location='cpu', weights_only=False)
    model.load_state_dict(state['state_dict'])
    model.eval()
    loader = Runner.build_dataloader(
        dict(cfg.val_dataloader, num_workers=0, persistent_workers=False))
    session = make_session(out)
    torch_top1, ort_top1, labels, worst = [], [], [], 0
    for batch in loader:
        labels += [int(s.gt_label) for s in batch['data_samples']]
        with torch.no_grad():
            data = model.data_preprocessor(batch, training=False)
            preds = model(**data, mode='predict')
        ref = torch.stack([p.pred_score for p in preds])
        got = session.run(None, {'inputs': data['inputs'].numpy()})[0]
        worst = max(worst, rel_errors([got], [ref])[0])
        torch_top1 += ref.argmax(1).tolist()
        ort_top1 += np.argmax(got, 1).tolist()
    assert len(torch_top1) == 12
    assert ort_top1 == torch_top1
    assert worst <= TOL
    acc = np.mean(np.array(torch_top1) == np.array(labels))
    print(f'\n{osp.basename(config)}: {len(labels)} validation clips, same '
          f'top-1 for all, accuracy {acc:.3f} in both; scores: largest '
          f'relative error {worst:.1e}')


def test_benchmark_deploy_rows(root, tmp_path):
    """tools/benchmark.py --deploy-only writes the eager-deploy and
    onnxruntime rows, each with its A/A control (no timing asserted)."""
    import csv
    tool = load_script(root, 'tools', 'benchmark.py')
    tool.main([
        '--deploy-only', '--depths', '18', '--no-video', '--size', '64',
        '--batch', '1', '--deploy-repeats', '1', '--out-dir',
        str(tmp_path)
    ])
    metrics = [
        r['metric'] for r in csv.DictReader(open(tmp_path / 'benchmark.csv'))
    ]
    for label in ('eval s (eager deploy: BN folded; ResNet fuse_conv_bn)',
                  'eval s (onnxruntime, torchscript export, BN folded)'):
        assert label in metrics
        assert f'{label}: A/A control, ResNet vs ResNet' in metrics
