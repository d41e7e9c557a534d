"""Test a checkpoint with an mmdet or mmaction2 config (mirrors mmdet's
tools/test.py).

    python tools/test.py CONFIG CHECKPOINT [--out preds.pkl] [--work-dir DIR]
        [--compile [backbone] [neck] | model]
        [--cfg-options k=v ...] [--launcher pytorch]
"""
from mm_iresnet.cli import test_main

if __name__ == '__main__':
    test_main()
