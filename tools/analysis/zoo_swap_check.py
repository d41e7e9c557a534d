"""Swap ``type='ResNet'`` for ``type='IResNet'`` in every config of mmdet's
installed zoo, build the whole detector and run a forward at 160x160, beside
the unchanged ResNet config as the baseline.

    python tools/analysis/zoo_swap_check.py [--limit N] [--out zoo_swap.csv]

Prints progress, writes one CSV row per config (ResNet ok?, IResNet ok?,
error) and ends with a summary; exits 1 if a config that runs with ResNet
fails with IResNet.
"""
import argparse
import copy
import csv
import os.path as osp
import sys
import time
import traceback

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

import torch  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402

from mm_iresnet.zoo import swap_backbone_type, zoo_backbones  # noqa: E402


def run_detector(model_cfg, size):
    from mmdet.registry import MODELS
    from mmdet.testing import demo_mm_inputs
    model = MODELS.build(model_cfg)
    model.eval()
    data = demo_mm_inputs(batch_size=1, image_shapes=(3, size, size),
                          num_items=[2], with_mask=True)
    with torch.no_grad():
        batch = model.data_preprocessor(data, training=False)
        try:
            model(**batch, mode='tensor')
        except NotImplementedError:
            model(**batch, mode='predict')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--limit', type=int, default=None)
    parser.add_argument('--size', type=int, default=160)
    parser.add_argument('--out', default='work_dirs/zoo_swap.csv')
    parser.add_argument('--skip-baseline', action='store_true',
                        help='do not run the ResNet configs')
    args = parser.parse_args()
    init_default_scope('mmdet')
    torch.manual_seed(0)
    rows = []
    configs = list(zoo_backbones('mmdet', 'ResNet'))[:args.limit]
    start = time.time()
    for k, (path, cfg) in enumerate(configs, 1):
        name = osp.relpath(path, osp.dirname(osp.dirname(path)))
        row = dict(config=name, resnet='skipped', iresnet='', error='')
        model = copy.deepcopy(cfg.model)
        if not args.skip_baseline:
            base = copy.deepcopy(model)
            swap_backbone_type(base, 'ResNet', 'ResNet')
            try:
                run_detector(base, args.size)
                row['resnet'] = 'ok'
            except Exception as e:  # noqa: BLE001 - reported, not hidden
                row['resnet'] = f'fail: {type(e).__name__}'
        swap_backbone_type(model, 'ResNet', 'IResNet')
        try:
            run_detector(model, args.size)
            row['iresnet'] = 'ok'
        except Exception as e:  # noqa: BLE001
            row['iresnet'] = f'fail: {type(e).__name__}'
            row['error'] = traceback.format_exception_only(e)[-1].strip()
        rows.append(row)
        print(f'[{k}/{len(configs)} {time.time() - start:.0f}s] {name}: '
              f"ResNet {row['resnet']}, IResNet {row['iresnet']}",
              flush=True)
    import os
    os.makedirs(osp.dirname(args.out) or '.', exist_ok=True)
    with open(args.out, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    regressions = [r for r in rows if r['resnet'] in ('ok', 'skipped')
                   and r['iresnet'] != 'ok']
    print(f'{len(rows)} configs: ResNet ok '
          f"{sum(r['resnet'] == 'ok' for r in rows)}, IResNet ok "
          f"{sum(r['iresnet'] == 'ok' for r in rows)}; IResNet failures "
          f'where ResNet ran: {len(regressions)}; CSV: {args.out}')
    for r in regressions:
        print('  ', r['config'], r['error'])
    return 1 if regressions else 0


if __name__ == '__main__':
    sys.exit(main())
