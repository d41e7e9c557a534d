"""Command-line entry points behind ``tools/train.py`` and ``tools/test.py``.

They mirror mmdet 3.x's and mmaction2 1.x's tools and serve both: the
config's ``default_scope`` ('mmdet' or 'mmaction') decides which registries
the mmengine Runner builds from. Before the Runner starts, files a config
needs (pretrained checkpoints, annotation files) are checked so a missing one
is reported by path with the step that produces it, not deep in a stack.
"""
import argparse
import os
import os.path as osp
from typing import List, Optional, Sequence

from mmengine.config import Config, DictAction

import mm_iresnet  # noqa: F401  (registers models, applies compat fixes)
from .configs import (load_config, loader_datasets, pretrained_checkpoints,
                      without_pretrained)

__all__ = [
    'train_main', 'test_main', 'runner_config', 'check_files',
    'add_dump_metric', 'missing_checkpoint_hint', 'official_checkpoints',
    'prepare_official_weights'
]

LAUNCHERS = ['none', 'pytorch', 'slurm', 'mpi']
#: what --compile may compile: parts of the model, or the whole model
COMPILE_PARTS = ('backbone', 'neck', 'model')


def _common_args(parser: argparse.ArgumentParser):
    parser.add_argument('--work-dir', help='directory for logs and models')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value (see mmengine DictAction)')
    parser.add_argument(
        '--launcher', choices=LAUNCHERS, default='none', help='job launcher')
    parser.add_argument(
        '--compile',
        nargs='*',
        choices=COMPILE_PARTS,
        metavar='PART',
        help='torch.compile parts of the model: "backbone" (the default '
        'when --compile is given alone), "neck", or "model" for the whole '
        'model (mmengine\'s cfg.compile when training; slow to compile for '
        'detectors, whose RoI ops break the graph)')
    # torch.distributed.launch passes --local-rank (torch >= 2.0)
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def compile_parts(parts: Optional[Sequence[str]]) -> List[str]:
    """The parts --compile names (``[]`` without the flag, the backbone
    when it is given alone)."""
    if parts is None:
        return []
    parts = list(dict.fromkeys(parts or ['backbone']))
    if 'model' in parts and len(parts) > 1:
        raise ValueError(
            '--compile model compiles the whole model: do not '
            f'combine it with {[p for p in parts if p != "model"]}')
    return parts


def compile_model_parts(runner, parts: Sequence[str]):
    """``Module.compile()`` the named parts of the runner's model in place
    (parameter names, hence checkpoints, are unchanged)."""
    from mmengine.model import is_model_wrapper
    model = runner.model.module if is_model_wrapper(runner.model) \
        else runner.model
    for part in parts:
        module = model if part == 'model' else getattr(model, part, None)
        if module is None:
            raise ValueError(f'--compile {part}: {type(model).__name__} has '
                             f'no {part}')
        module.compile()
        runner.logger.info(f'torch.compile: {part} '
                           f'({type(module).__name__}); the first '
                           'iterations include its compilation')


def runner_config(path: str, work_dir: Optional[str], launcher: str,
                  cfg_options: Optional[dict]) -> Config:
    """Load a config, apply CLI overrides and choose the work_dir as mmdet
    does (CLI > config > ./work_dirs/<config name>)."""
    cfg = load_config(path, cfg_options)
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(path))[0])
    return cfg


def missing_checkpoint_hint(path) -> Optional[str]:
    """What to do about a pretrained checkpoint that is a missing local file
    (``None`` when it exists, or is a URL / ``scheme://`` the loaders
    fetch)."""
    if not isinstance(path, str) or '://' in path or osp.exists(path):
        return None
    return (f'pretrained checkpoint {path!r} not found: name the official '
            'ImageNet weights as iresnet://NAME (e.g. iresnet://iresnet50, '
            'downloaded and converted on first use), or convert a downloaded '
            'file with `python tools/convert_checkpoint.py IN.pth '
            f'{path} --src iresnet` (docs/weights.md), or train '
            'from scratch with model.backbone.init_cfg=None (mmdet) / '
            'model.backbone.pretrained=None (mmaction)')


def official_checkpoints(cfg: Config) -> List[str]:
    """The official model names (``iresnet://NAME``) a config loads, from the
    model's pretrained checkpoints and ``load_from``."""
    from .official import SCHEME
    paths = pretrained_checkpoints(cfg.get('model', {})) + \
        [cfg.get('load_from')]
    return list(
        dict.fromkeys(p[len(SCHEME):] for p in paths
                      if isinstance(p, str) and p.startswith(SCHEME)))


def prepare_official_weights(cfg: Config, download: bool = True):
    """Before the Runner starts: every ``iresnet://NAME`` of ``cfg`` must name
    a released official checkpoint, and with ``download`` it is fetched into
    the cache now, so a network failure stops the run before training
    (distributed runs leave the download to rank 0 when the weights load)."""
    from .weights import fetch, released_model
    for name in official_checkpoints(cfg):
        fetch(name) if download else released_model(name)


def _is_local(path) -> bool:
    return isinstance(path, str) and '://' not in path


def check_files(cfg: Config, phases: Sequence[str] = ('train', 'val')):
    """Raise FileNotFoundError naming each missing file the run needs."""
    problems: List[str] = []
    checkpoints = pretrained_checkpoints(cfg.get('model', {}))
    problems += [
        hint for hint in map(missing_checkpoint_hint, checkpoints) if hint
    ]
    for phase, dataset in loader_datasets(cfg, phases):
        if 'generate' in dataset:  # a demo set that writes its own files
            continue
        root = dataset.get('data_root') or ''
        ann = dataset.get('ann_file')
        if _is_local(ann) and ann:
            full = ann if osp.isabs(ann) else osp.join(root, ann)
            if not osp.exists(full):
                problems.append(
                    f'{phase} annotation file {full!r} not found (data_root='
                    f'{root!r}): prepare the dataset there as '
                    'docs/get_started.md "Datasets" describes, or point '
                    'data_root at it with --cfg-options')
    if problems:
        raise FileNotFoundError('\n  - '.join(['missing files:'] + problems))


#: the metric that dumps a task's test predictions (``--out``), by the
#: config's default_scope: mmdet's RLE-encodes masks and drops the ground
#: truth; mmaction2's test tool uses mmengine's
DUMP_METRICS = {'mmdet': 'DumpDetResults', 'mmaction': 'DumpResults'}


def add_dump_metric(cfg: Config, out: str):
    """Add the dump metric of the config's task to its test_evaluator
    (``out``: a .pkl file), as mmdet's and mmaction2's test tools do."""
    metric = dict(
        type=DUMP_METRICS.get(cfg.get('default_scope'), 'DumpResults'),
        out_file_path=out)
    evaluators = cfg.get('test_evaluator') or []
    if not isinstance(evaluators, (list, tuple)):
        evaluators = [evaluators]
    cfg.test_evaluator = list(evaluators) + [metric]


def _build_runner(cfg: Config):
    """The config's runner (``runner_type``) or
    :class:`~mm_iresnet.runner.PortableRunner`."""
    from mmengine.registry import RUNNERS

    from .runner import PortableRunner
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return PortableRunner.from_cfg(cfg)


def train_main(argv: Optional[Sequence[str]] = None):
    parser = argparse.ArgumentParser(
        description='Train a detector or recogniser (mmdet / mmaction2 '
        'config) with an mmengine Runner')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='automatic mixed precision training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the lr by total batch / base_batch_size')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from a checkpoint path, or (no value) from the latest '
        'checkpoint in the work directory')
    _common_args(parser)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))

    cfg = runner_config(args.config, args.work_dir, args.launcher,
                        args.cfg_options)
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.auto_scale_lr:
        scale = cfg.get('auto_scale_lr')
        if not scale or 'base_batch_size' not in scale:
            raise RuntimeError('--auto-scale-lr needs auto_scale_lr = dict('
                               'enable=..., base_batch_size=...) in the '
                               'config')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    parts = compile_parts(args.compile)
    if parts == ['model']:
        cfg.compile = True  # mmengine compiles the whole train step
    check_files(cfg, ('train', 'val') if cfg.get('val_cfg') else ('train', ))
    prepare_official_weights(cfg, download=args.launcher == 'none')
    runner = _build_runner(cfg)
    compile_model_parts(runner, [p for p in parts if p != 'model'])
    runner.train()
    return runner


def test_main(argv: Optional[Sequence[str]] = None):
    parser = argparse.ArgumentParser(
        description='Test (and evaluate) a trained model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='dump the predictions to a pickle file')
    _common_args(parser)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))

    cfg = runner_config(args.config, args.work_dir, args.launcher,
                        args.cfg_options)
    if '://' not in args.checkpoint and not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint!r} not found')
    cfg.load_from = args.checkpoint
    # the trained checkpoint replaces any backbone init
    checked = without_pretrained(cfg)
    check_files(checked, ('test', ))
    prepare_official_weights(checked, download=args.launcher == 'none')
    if args.out:
        add_dump_metric(cfg, args.out)
    runner = _build_runner(cfg)
    compile_model_parts(runner, compile_parts(args.compile))
    return runner.test()
