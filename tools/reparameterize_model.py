"""Fold the backbone's BNs into its convs (deploy mode) in a checkpoint.

    python tools/reparameterize_model.py CONFIG CHECKPOINT OUT.pth
        [--cfg-options k=v ...]

Builds the model of CONFIG (mmdet or mmaction2), loads CHECKPOINT, switches
the outermost modules that can to their deploy form (IResNet backbones, each
SlowFast pathway: every BN that directly follows a conv is folded into it)
and saves the result. Use it with ``--cfg-options model.backbone.deploy=True``,
e.g.

    python tools/test.py CONFIG OUT.pth \
        --cfg-options model.backbone.deploy=True

Inference only; the outputs equal the original model's in eval mode (1e-4).
"""
import argparse
import sys

from mmengine.config import DictAction

from mm_iresnet.checkpoint import save_atomic
from mm_iresnet.deploy.build import (build_deploy_model,
                                     read_trusted_checkpoint, switch_to_deploy)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint', help='a checkpoint you trust')
    parser.add_argument('out')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value')
    args = parser.parse_args(argv)
    checkpoint = read_trusted_checkpoint(args.checkpoint)
    model, _ = build_deploy_model(
        args.config, checkpoint, args.cfg_options, deploy=False)
    folded = switch_to_deploy(model)
    if not folded:
        print(
            'error: nothing to fold: no module of this model has '
            'switch_to_deploy(), or the checkpoint is folded already',
            file=sys.stderr)
        return 1
    meta = dict(checkpoint.get('meta') or {}, deploy=True)
    save_atomic(dict(state_dict=model.state_dict(), meta=meta), args.out)
    print(f'folded {len(folded)} norms; wrote {args.out} (load it with '
          'model.backbone.deploy=True)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
