"""Fold the backbone's BNs into its convs (deploy mode) in a checkpoint.

    python tools/reparameterize_model.py CONFIG CHECKPOINT OUT.pth

Builds the model of CONFIG (mmdet or mmaction2), loads CHECKPOINT, calls
``switch_to_deploy()`` on every module that has it (IResNet backbones: every
BN that directly follows a conv is folded into it) and saves the result. Use
it with ``--cfg-options model.backbone.deploy=True``, e.g.

    python tools/test.py CONFIG OUT.pth --cfg-options model.backbone.deploy=True

Inference only; the outputs equal the original model's in eval mode (1e-4).
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.registry import MODELS, init_default_scope  # noqa: E402

import mm_iresnet  # noqa: E402,F401
from mm_iresnet.checkpoint import trusted_checkpoint_load  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint', help='a checkpoint you trust')
    parser.add_argument('out')
    args = parser.parse_args(argv)
    cfg = Config.fromfile(args.config)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    cfg.model.backbone.pop('init_cfg', None)
    if 'pretrained' in cfg.model.backbone:
        cfg.model.backbone.pretrained = None
    model = MODELS.build(cfg.model)
    with trusted_checkpoint_load():  # the user named this file
        checkpoint = torch.load(args.checkpoint, map_location='cpu')
    state = checkpoint.get('state_dict', checkpoint)
    model.load_state_dict(state)
    model.eval()
    folded = []
    for name, module in model.named_modules():
        if hasattr(module, 'switch_to_deploy'):
            folded += [f'{name}.{n}' for n in module.switch_to_deploy()]
    if not folded:
        print('error: no module of this model has switch_to_deploy()',
              file=sys.stderr)
        return 1
    meta = dict(checkpoint.get('meta', {}), deploy=True)
    torch.save(dict(state_dict=model.state_dict(), meta=meta), args.out)
    print(f'folded {len(folded)} norms; wrote {args.out} (load it with '
          'model.backbone.deploy=True)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
