"""Convert an ImageNet checkpoint into this package's naming.

    python tools/convert_checkpoint.py IN.pth OUT.pth \
        --src {iresnet,iresgroup,iresgroupfix,resstage,torchvision}

The depth and block are read from the keys; the output is checked to load
into the matching backbone with no missing, unexpected or mis-shaped key, and
can be used as ``init_cfg=dict(type='Pretrained', checkpoint=OUT.pth)``.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mm_iresnet.convert import SOURCES, CheckpointError, convert_file  # noqa


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src_path', help='checkpoint to convert')
    parser.add_argument('out_path', help='where to write the result')
    parser.add_argument('--src', choices=sorted(SOURCES), required=True,
                        help='where the checkpoint comes from')
    args = parser.parse_args(argv)
    try:
        arch = convert_file(args.src_path, args.out_path, args.src)
    except (CheckpointError, FileNotFoundError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    print(f'wrote {args.out_path}: backbone arguments {arch}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
