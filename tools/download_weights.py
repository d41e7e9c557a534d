"""Fill the cache of official ImageNet weights (``iresnet://NAME``).

    python tools/download_weights.py NAME [NAME ...]
    python tools/download_weights.py --list

Run it where there is internet (a login node), then train where there is
none: configs that name ``iresnet://NAME`` read the cache
(``$MM_IRESNET_HOME/checkpoints``, default
``~/.cache/mm_iresnet/checkpoints``; copy that folder if the compute nodes
see another home).
"""
import argparse
import os.path as osp
import sys

from mm_iresnet.official import OFFICIAL_MODELS
from mm_iresnet.weights import cached_path  # noqa
from mm_iresnet.weights import WeightsError, cache_dir, load_official


def list_models() -> str:
    rows = [
        f'{"name":<16} {"top-1":>6}  {"checkpoint":<13} cached',
        f'{"-" * 16} {"-" * 6}  {"-" * 13} ------'
    ]
    for name, model in OFFICIAL_MODELS.items():
        top1 = f'{model.top1:.2f}' if model.top1 is not None else '-'
        released = 'released' if model.drive_id else 'not available'
        cached = 'yes' if osp.isfile(cached_path(name)) else 'no'
        rows.append(f'{name:<16} {top1:>6}  {released:<13} {cached}')
    rows.append(f'top-1: ImageNet, from the official README (given there '
                f'for ResNet and iResNet 50-200 only); cache: {cache_dir()}')
    return '\n'.join(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'names',
        nargs='*',
        metavar='NAME',
        help='official model names, e.g. iresnet50')
    parser.add_argument(
        '--list',
        action='store_true',
        help='list every official name, its top-1, whether '
        'a checkpoint was released and whether it is cached')
    args = parser.parse_args(argv)
    if args.list:
        print(list_models())
        return 0
    if not args.names:
        parser.error('name at least one model, or --list')
    failed = 0
    for name in args.names:
        try:
            load_official(name)
            print(f'{name}: {cached_path(name)}')
        except WeightsError as e:
            print(f'error: {e}', file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
