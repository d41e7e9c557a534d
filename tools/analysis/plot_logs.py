"""Plot the scalar log of an mmengine work_dir into PNG curves.

    python tools/analysis/plot_logs.py WORK_DIR [--out-dir DIR]

Writes loss.png, lr.png and metrics.png (into WORK_DIR by default).
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

from mm_iresnet.plots import plot_work_dir  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('work_dir')
    parser.add_argument('--out-dir', default=None)
    args = parser.parse_args()
    for path in plot_work_dir(args.work_dir, args.out_dir):
        print(f'wrote {path}')


if __name__ == '__main__':
    main()
