"""Swap ``type='ResNet'`` for ``type='IResNet'`` in every config of mmdet's
installed zoo, build the whole detector and run a forward at 160x160, beside
the unchanged ResNet config as the baseline. With ``--action``, every config
of mmaction2's skeleton, detection and audio zoo whose backbone has an
iResNet counterpart instead: one loss step with backward on a tiny batch of
the config's own shape (``mm_iresnet.zoo.zoo_batch``), mmaction2's own
backbone (weights cleared) as the baseline.

    python tools/analysis/zoo_swap_check.py [--action] [--start K]
        [--limit N] [--memory-gib 8] [--out zoo_swap.csv]

Each config runs in a forked process under a memory cap, so one heavy
config cannot take the machine down. Prints progress, writes one CSV row per
config as it goes (ResNet ok?, IResNet ok?, error) and ends with a summary;
exits 1 if a config that runs with ResNet fails with IResNet.
"""
import argparse
import copy
import csv
import multiprocessing
import os
import os.path as osp
import resource
import sys
import tempfile
import time
import traceback

import torch
from mmengine.registry import init_default_scope

from mm_iresnet.zoo import (action_zoo, swap_backbone_type, zoo_backbones,
                            zoo_batch, zoo_loss_step, zoo_model_pair)

#: mmaction2's zoo folders --action walks (recognition/: the tests)
ACTION_FOLDERS = ('skeleton', 'detection', 'recognition_audio')


def run_detector(model_cfg, size):
    from mmdet.registry import MODELS
    from mmdet.testing import demo_mm_inputs
    model = MODELS.build(model_cfg)
    model.eval()
    data = demo_mm_inputs(
        batch_size=1,
        image_shapes=(3, size, size),
        num_items=[2],
        with_mask=True)
    with torch.no_grad():
        batch = model.data_preprocessor(data, training=False)
        try:
            model(**batch, mode='tensor')
        except NotImplementedError:
            model(**batch, mode='predict')


def check_config(model_cfg, size, skip_baseline):
    """(ResNet status, IResNet status, error) of one zoo model config."""
    row = dict(resnet='skipped', iresnet='', error='')
    if not skip_baseline:
        base = copy.deepcopy(model_cfg)
        swap_backbone_type(base, 'ResNet', 'ResNet')
        try:
            run_detector(base, size)
            row['resnet'] = 'ok'
        except Exception as e:  # noqa: BLE001 - reported, not hidden
            row['resnet'] = f'fail: {type(e).__name__}'
    swap_backbone_type(model_cfg, 'ResNet', 'IResNet')
    try:
        run_detector(model_cfg, size)
        row['iresnet'] = 'ok'
    except Exception as e:  # noqa: BLE001
        row['iresnet'] = f'fail: {type(e).__name__}'
        row['error'] = traceback.format_exception_only(e)[-1].strip()
    return row


def _status(step, *args):
    try:
        step(*args)
        return 'ok', ''
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        return f'fail: {type(e).__name__}', \
            traceback.format_exception_only(e)[-1].strip()


def check_action_config(cfg, skip_baseline):
    """(original status, iResNet status, error) of one mmaction2 config."""
    control, ours = zoo_model_pair(cfg)
    data = zoo_batch(cfg)
    row = dict(resnet='skipped', iresnet='', error='')
    if not skip_baseline:
        row['resnet'], _ = _status(zoo_loss_step, control, data)
    row['iresnet'], row['error'] = _status(zoo_loss_step, ours, data)
    return row


def _worker(cfg, args, queue):
    cap = int(args.memory_gib * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    # in a scratch folder: the LFB heads create their data/ava/... in the cwd
    with tempfile.TemporaryDirectory(prefix='zoo_swap_') as scratch:
        os.chdir(scratch)
        try:
            queue.put(
                check_action_config(cfg, args.skip_baseline) if args.
                action else check_config(
                    copy.deepcopy(cfg.model), args.size, args.skip_baseline))
        except MemoryError:
            queue.put(
                dict(
                    resnet='?',
                    iresnet='fail: MemoryError',
                    error=f'over the {args.memory_gib} GiB cap'))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--start', type=int, default=0, help='skip the first K configs')
    parser.add_argument('--limit', type=int, default=None)
    parser.add_argument('--size', type=int, default=160)
    parser.add_argument(
        '--memory-gib',
        type=float,
        default=8.0,
        help='address-space cap of each config\'s process')
    parser.add_argument('--out', default='work_dirs/zoo_swap.csv')
    parser.add_argument(
        '--skip-baseline',
        action='store_true',
        help='do not run the ResNet configs')
    parser.add_argument(
        '--action',
        action='store_true',
        help="mmaction2's skeleton, detection and audio "
        'configs (a loss step each) instead of mmdet\'s')
    args = parser.parse_args()
    init_default_scope('mmaction' if args.action else 'mmdet')
    torch.manual_seed(0)
    configs = action_zoo(ACTION_FOLDERS) if args.action else \
        list(zoo_backbones('mmdet', 'ResNet'))
    stop = None if args.limit is None else args.start + args.limit
    todo = configs[args.start:stop]
    os.makedirs(osp.dirname(args.out) or '.', exist_ok=True)
    fields = ['config', 'resnet', 'iresnet', 'error']
    new_file = args.start == 0 or not osp.exists(args.out)
    out = open(args.out, 'w' if new_file else 'a', newline='')
    writer = csv.DictWriter(out, fieldnames=fields)
    if new_file:
        writer.writeheader()
    context = multiprocessing.get_context('fork')
    rows, start = [], time.time()
    for k, (path, cfg) in enumerate(todo, args.start + 1):
        name = osp.relpath(path, osp.dirname(osp.dirname(path)))
        queue = context.Queue()
        proc = context.Process(target=_worker, args=(cfg, args, queue))
        proc.start()
        try:
            row = queue.get(timeout=600)
        except Exception:  # noqa: BLE001 - the child died or hung
            row = dict(
                resnet='?',
                iresnet='fail: killed',
                error=f'process ended with code {proc.exitcode}')
        proc.join(timeout=60)
        if proc.is_alive():
            proc.kill()
        row = dict(config=name, **row)
        writer.writerow(row)
        out.flush()
        rows.append(row)
        print(
            f'[{k}/{len(configs)} {time.time() - start:.0f}s] {name}: '
            f"ResNet {row['resnet']}, IResNet {row['iresnet']}",
            flush=True)
    out.close()
    regressions = [
        r for r in rows
        if r['resnet'] in ('ok', 'skipped') and r['iresnet'] != 'ok'
    ]
    print(f'{len(rows)} configs: ResNet ok '
          f"{sum(r['resnet'] == 'ok' for r in rows)}, IResNet ok "
          f"{sum(r['iresnet'] == 'ok' for r in rows)}; IResNet failures "
          f'where ResNet ran: {len(regressions)}; CSV: {args.out}')
    controls = [r for r in rows if r['resnet'].startswith('fail')]
    if controls:
        print(f'{len(controls)} configs fail with the original backbone too '
              '(listed, not counted):')
        for r in controls:
            print('  ', r['config'], r['iresnet'])
    for r in regressions:
        print('  ', r['config'], r['error'])
    return 1 if regressions else 0


if __name__ == '__main__':
    sys.exit(main())
