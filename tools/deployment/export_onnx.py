"""Export a detector's backbone + neck, or a whole recogniser, to ONNX.

    python tools/deployment/export_onnx.py CONFIG CHECKPOINT --out FILE.onnx
        [--shape N C H W | N V C T H W | N F C H W] [--dynamic [AXIS ...]]
        [--exporter torchscript|dynamo] [--opset N] [--no-verify]
        [--cfg-options k=v ...]

Builds the model of CONFIG (mmdet or mmaction2), loads CHECKPOINT (a file you
trust: loaded with the types of mmengine's training checkpoints allowed,
as tools/test.py does), folds the backbone's
BNs (deploy form) and exports:

* detectors: backbone + neck, inputs (N, 3, H, W) -> feat0..featK;
* recognisers: the whole model, inputs (N, views, C, T, H, W) (3D) or
  (N, frames, C, H, W) (2D) -> scores (N, num_classes), averaged over views.

Inputs are what the model's data_preprocessor produces (normalised).
``--dynamic`` alone makes every axis the model allows dynamic; named axes
(batch, height, width, views, time, frames) are checked, and one the model
fixes is refused naming the option that fixes it. Then the file runs in
onnxruntime on the example input and the relative error of each output
against PyTorch is printed (exit status 1 above --tolerance).
"""
import argparse
import sys
import time

from mmengine.config import DictAction

from mm_iresnet.deploy import DEFAULT_EXPORTER, EXPORTERS, OPSET, export_onnx


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='mmdet / mmaction2 config file')
    parser.add_argument('checkpoint', help='trained checkpoint (trusted)')
    parser.add_argument('--out', required=True, help='the .onnx file')
    parser.add_argument(
        '--shape',
        type=int,
        nargs='+',
        help='example input shape (default: from the '
        "config's test pipeline)")
    parser.add_argument(
        '--dynamic',
        nargs='*',
        metavar='AXIS',
        help='dynamic axes: none named = all the model '
        'allows')
    parser.add_argument(
        '--exporter', choices=list(EXPORTERS), default=DEFAULT_EXPORTER)
    parser.add_argument(
        '--opset',
        type=int,
        default=OPSET,
        help=f'ONNX opset (default {OPSET}: 18, or the highest the '
        "installed torch's TorchScript exporter writes where lower)")
    parser.add_argument(
        '--no-verify',
        dest='verify',
        action='store_false',
        help='skip the onnxruntime check')
    parser.add_argument(
        '--tolerance',
        type=float,
        default=1e-4,
        help='largest relative error accepted by the check')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value')
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        info = export_onnx(
            args.config,
            args.checkpoint,
            args.out,
            shape=args.shape,
            dynamic=args.dynamic,
            exporter=args.exporter,
            opset=args.opset,
            cfg_options=args.cfg_options,
            verify=args.verify)
    except (ValueError, FileNotFoundError, TypeError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(f"wrote {info['out']}: {info['kind']}, input "
          f"{tuple(info['shape'])}, outputs {', '.join(info['outputs'])}, "
          f"exporter {info['exporter']} ({info['seconds']:.1f} s to "
          f'export, {time.perf_counter() - start:.1f} s in all)')
    print(f"dynamic axes: {', '.join(info['dynamic']) or 'none'}")
    for axis, why in info['fixed'].items():
        print(f'fixed axis {axis}: {why}')
    if 'rel_err' in info:
        worst = max(info['rel_err'])
        print('onnxruntime vs PyTorch, relative error per output: ' +
              ', '.join(f'{e:.2e}' for e in info['rel_err']))
        if worst > args.tolerance:
            print(
                f'error: relative error {worst:.2e} above --tolerance '
                f'{args.tolerance}',
                file=sys.stderr)
            return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
