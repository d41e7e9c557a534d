"""tools/train.py and tools/test.py end to end on a tiny generated set."""
import glob
import json
import os
import os.path as osp
import sys

import pytest

from .helpers import TinyModel, nonempty, run_process
from .scripts import load_script

DEMO = 'configs/demo/faster_rcnn_iresnet18_shapes.py'


def tiny_overrides(data_root, iters=4):
    data_root = str(data_root) + '/'
    gen = dict(num_train=16, num_val=8, image_size=64, seed=3)
    loaders = ('train_dataloader', 'val_dataloader', 'test_dataloader')
    return [
        f'{loader}.dataset.generate.{k}={v}' for loader in loaders
        for k, v in gen.items()
    ] + [
        f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
        f'val_evaluator.ann_file={data_root}annotations/val.json',
        f'test_evaluator.ann_file={data_root}annotations/val.json',
        'train_dataloader.batch_size=4',
        'val_dataloader.batch_size=4',
        'test_dataloader.batch_size=4',
        f'train_cfg.max_iters={iters}',
        f'train_cfg.val_interval={iters // 2}',
        f'default_hooks.checkpoint.interval={iters}',
        'default_hooks.logger.interval=1',
        'param_scheduler.0.end=2',
        'param_scheduler.1.begin=2',
        f'param_scheduler.1.end={iters}',
    ]


def run_tool(root, args, cwd):
    env = dict(os.environ, PYTHONWARNINGS='ignore')
    return run_process(
        [sys.executable] + args,
        timeout=600,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True)


@pytest.fixture(scope='module')
def trained(tmp_path_factory, root):
    tmp = tmp_path_factory.mktemp('demo')
    work = tmp / 'work'
    proc = run_tool(
        root,
        [
            osp.join(root, 'tools', 'train.py'),
            osp.join(root, DEMO), '--work-dir',
            str(work), '--cfg-options'
        ] + tiny_overrides(tmp / 'shapes'),
        cwd=str(tmp))
    return tmp, work, proc


@pytest.mark.slow
def test_train_tool_runs_demo_with_eval_and_checkpoint(trained):
    tmp, work, proc = trained
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    assert 'Iter(train) [4/4]' in out
    assert 'coco/bbox_mAP' in out
    assert osp.exists(work / 'iter_4.pth')
    assert (work /
            'last_checkpoint').read_text().strip().endswith('iter_4.pth')
    scalars = glob.glob(str(work / '*' / 'vis_data' / 'scalars.json'))
    assert scalars
    lines = [json.loads(row) for row in open(scalars[0])]
    assert any('loss' in row for row in lines)
    # every validation at its training iteration (not at 'epoch' 0)
    assert [row['step'] for row in lines if 'coco/bbox_mAP' in row] == [2, 4]
    # the curves: metrics without COCO's -1 "no objects of this size"
    from mm_iresnet.plots import read_scalars
    assert any(row.get('coco/bbox_mAP_l') == -1 for row in lines)
    series = read_scalars(scalars[0])
    assert all(v != -1 for v in nonempty(v for k, points in series.items()
                                         if '/' in k for _, v in points))
    assert [s for s, _ in series['coco/bbox_mAP']] == [2, 4]
    for png in ('loss.png', 'lr.png', 'metrics.png'):
        assert (work / png).stat().st_size > 0
    # generated on first use, in place
    assert osp.exists(tmp / 'shapes' / 'annotations' / 'train.json')


@pytest.mark.slow
def test_test_tool_evaluates_checkpoint(trained, root):
    tmp, work, _ = trained
    out_pkl = tmp / 'preds.pkl'
    proc = run_tool(
        root,
        [
            osp.join(root, 'tools', 'test.py'),
            osp.join(root, DEMO),
            str(work / 'iter_4.pth'), '--work-dir',
            str(tmp / 'test'), '--out',
            str(out_pkl), '--cfg-options'
        ] + tiny_overrides(tmp / 'shapes'),
        cwd=str(tmp))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'coco/bbox_mAP' in proc.stdout + proc.stderr
    import pickle
    preds = pickle.load(open(out_pkl, 'rb'))
    assert len(preds) == 8 and 'pred_instances' in preds[0]


@pytest.mark.slow
def test_test_tool_dumps_rle_masks(root, tmp_path):
    """tools/test.py --out on the Mask R-CNN demo dumps with mmdet's
    DumpDetResults: each predicted mask RLE-encoded (pycocotools decodes it
    to the image size), no ground truth; and a test run ends without
    PlotCurvesHook's warning (it draws training curves only)."""
    import pickle

    import pycocotools.mask as mask_util
    import torch
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope
    config = osp.join(root, 'configs', 'demo', 'mask_rcnn_iresnet18_shapes.py')
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(config).model)
    model.init_weights()
    torch.save(
        dict(state_dict=model.state_dict(), meta={}),
        tmp_path / 'mask_rcnn.pth')
    out_pkl = tmp_path / 'preds.pkl'
    proc = run_tool(
        root,
        [
            osp.join(root, 'tools', 'test.py'), config,
            str(tmp_path / 'mask_rcnn.pth'), '--work-dir',
            str(tmp_path / 'test'), '--out',
            str(out_pkl), '--cfg-options'
        ] + tiny_overrides(tmp_path / 'shapes'),
        cwd=str(tmp_path))
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'coco/segm_mAP' in output
    assert 'PlotCurvesHook:' not in output and 'scalars.json' not in output
    preds = pickle.load(open(out_pkl, 'rb'))
    assert len(preds) == 8
    assert not any('gt_instances' in p for p in nonempty(preds))
    masks = [(m, p['ori_shape']) for p in preds
             for m in p['pred_instances']['masks']]
    assert masks
    for rle, shape in masks:
        assert isinstance(rle, dict) and set(rle) >= {'size', 'counts'}
        assert mask_util.decode(rle).shape == tuple(shape[:2])


@pytest.mark.parametrize('config,metric', [
    ('mask_rcnn_iresnet18_shapes.py', 'mmdet.evaluation.DumpDetResults'),
    ('tsm_iresnet18_moving_shapes.py', 'mmengine.evaluator.DumpResults'),
])
def test_out_adds_the_dump_metric_of_the_task(root, tmp_path, config, metric):
    """--out dumps with mmdet's DumpDetResults for detectors, with what
    mmaction2's test tool uses for recognisers (mmengine's DumpResults),
    beside the config's own evaluator."""
    import importlib

    from mmengine.config import Config
    from mmengine.registry import METRICS, init_default_scope

    from mm_iresnet.cli import add_dump_metric
    cfg = Config.fromfile(osp.join(root, 'configs', 'demo', config))
    own = cfg.test_evaluator
    add_dump_metric(cfg, str(tmp_path / 'preds.pkl'))
    assert cfg.test_evaluator[:-1] == [own]
    init_default_scope(cfg.default_scope)
    module, name = metric.rsplit('.', 1)
    assert type(METRICS.build(cfg.test_evaluator[-1])) is getattr(
        importlib.import_module(module), name)


def test_missing_data_is_reported_before_training(root, tmp_path):
    proc = run_tool(
        root, [
            osp.join(root, 'tools', 'train.py'),
            osp.join(root, 'configs', 'coco', 'faster_rcnn_iresnet50.py'),
            '--work-dir',
            str(tmp_path / 'w')
        ],
        cwd=str(tmp_path))
    assert proc.returncode != 0
    assert 'data/coco/annotations/instances_train2017.json' in proc.stderr
    assert 'downloading' not in proc.stderr  # stopped before the weights
    assert not (tmp_path / 'w').exists() or not any(
        nonempty((tmp_path / 'w').glob('*/*.log')))


def test_checkpoint_load_rule(tmp_path):
    """Runner checkpoints (with HistoryBuffer) load from anywhere; a file
    with any other object is refused, also through mmengine's loader."""
    import pickle

    import torch
    from mmengine.logging import HistoryBuffer

    from mm_iresnet.runner import PortableRunner

    runner = PortableRunner(model=TinyModel(), work_dir=str(tmp_path / 'w'))
    state = {
        'state_dict': TinyModel().state_dict(),
        'message_hub': {
            'loss': HistoryBuffer([1.0, 2.0], [1, 1])
        }
    }
    outside = str(tmp_path / 'elsewhere.pth')
    torch.save(state, outside)
    ckpt = runner.load_checkpoint(outside)
    assert isinstance(ckpt['message_hub']['loss'], HistoryBuffer)
    state['other'] = TinyModel()  # an object of no allowed type
    torch.save(state, outside)
    with pytest.raises(pickle.UnpicklingError, match='TinyModel'):
        runner.load_checkpoint(outside)


@pytest.mark.slow
def test_benchmark_tool_writes_its_table(root, tmp_path):
    """A small run of tools/benchmark.py: the table has every measurement
    (no timing is asserted; the params ratio is exact)."""
    import csv
    tool = load_script(root, 'tools', 'benchmark.py')
    tool.main([
        '--depths', '18', '--size', '64', '--repeats', '1', '--no-video',
        '--no-detector', '--out-dir',
        str(tmp_path)
    ])
    rows = list(csv.DictReader(open(tmp_path / 'benchmark.csv')))
    metrics = {r['metric'] for r in rows}
    for needle in ('params', 'GFLOPs@64', 'train step s (fp32)',
                   'train step s (channels_last)', 'train step s (bf16)',
                   'eval step s (fp32)', 'eval step s (deploy: BN folded)',
                   'train saved-for-backward MiB'):
        assert needle in metrics, needle
    params = next(r for r in rows if r['metric'] == 'params')
    assert params['iresnet'] == params['resnet']
    assert '| 2D depth 18 | params |' in open(tmp_path / 'benchmark.md').read()
