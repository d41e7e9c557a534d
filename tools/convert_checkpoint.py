"""Convert an ImageNet checkpoint into this package's naming.

    python tools/convert_checkpoint.py IN.pth OUT.pth \
        --src {iresnet,iresgroup,iresgroupfix,resstage,torchvision} \
        [--ordering ORDERING] [--keep-classifier]

The depth and block are read from the keys; the output is checked to load
into the matching backbone with no missing, unexpected or mis-shaped key, and
can be used as ``init_cfg=dict(type='Pretrained', checkpoint=OUT.pth)``.
Official iResNet-family checkpoints were trained with the released ResStage
ordering (``ordering='resstage'``, the default of every preset); the output
says which ordering the result is for.
"""
import argparse
import sys

from mm_iresnet.convert import SOURCES, CheckpointError, convert_file  # noqa
from mm_iresnet.models.layouts import ORDERINGS  # noqa


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src_path', help='checkpoint to convert')
    parser.add_argument('out_path', help='where to write the result')
    parser.add_argument(
        '--src',
        choices=sorted(SOURCES),
        required=True,
        help='where the checkpoint comes from')
    parser.add_argument(
        '--ordering',
        choices=sorted(ORDERINGS),
        help='block ordering of the network the result is for (default: '
        'the one the source was trained with; another one warns)')
    parser.add_argument(
        '--keep-classifier',
        action='store_true',
        help="keep the source's fc weights under "
        "'classifier' in the output")
    args = parser.parse_args(argv)
    try:
        arch = convert_file(
            args.src_path,
            args.out_path,
            args.src,
            ordering=args.ordering,
            keep_classifier=args.keep_classifier)
    except (CheckpointError, FileNotFoundError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    trained = SOURCES[args.src]['ordering']
    note = 'the ordering it was trained with' if arch['ordering'] == trained \
        else f'NOT the ordering it was trained with ({trained!r})'
    print(f'wrote {args.out_path}: for ordering={arch["ordering"]!r} '
          f'({note}); backbone arguments {arch}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
