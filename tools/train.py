"""Train with an mmdet or mmaction2 config (mirrors mmdet's tools/train.py).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--auto-scale-lr] [--compile [backbone] [neck] | model]
        [--cfg-options k=v ...] [--launcher pytorch]
"""
from mm_iresnet.cli import train_main

if __name__ == '__main__':
    train_main()
