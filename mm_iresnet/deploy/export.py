"""ONNX export: the two exporters, and :func:`export_onnx`, which builds the
model of a config, exports it and checks the file in onnxruntime.

``'torchscript'`` is ``torch.onnx.export(dynamo=False)`` (the only exporter
of ``torch.onnx.export`` before torch 2.5), ``'dynamo'`` is ``dynamo=True``
(needs torch >= 2.6 and onnxscript). After onnxruntime's graph optimisations
both give the same kernels (``tools/benchmark.py --deploy`` checks), so they
run equally fast; the TorchScript one is the default because it exports
several times faster and needs no onnxscript (docs/deployment.md has the
figures).
"""
import inspect
import os
import os.path as osp
import time
import warnings
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.config import Config

from ..configs import load_config
from .build import build_deploy_model
from .runtime import rel_errors, run_onnxruntime
from .shapes import AXES, default_shape, resolve_dynamic
from .wrappers import export_wrapper

__all__ = [
    'EXPORTERS', 'DEFAULT_EXPORTER', 'OPSET', 'export_module', 'export_onnx'
]


def _torchscript_max_opset() -> int:
    """The highest opset the installed torch's TorchScript exporter writes
    (17 in torch 2.1, 20 in 2.13; torch keeps it in a private module)."""
    from torch.onnx import _constants
    return getattr(_constants, 'ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET', 18)


#: the default opset: 18, or the TorchScript exporter's highest where that
#: is lower (torch 2.1 writes an opset-18 ReduceMean that onnx refuses)
OPSET = min(18, _torchscript_max_opset())
#: the dynamo exporter as called here: ``torch.onnx.export(dynamo=)`` came in
#: torch 2.5, ``torch.export.Dim.DYNAMIC`` in 2.6
DYNAMO_MIN_TORCH = '2.6'


def _dynamo_keyword() -> dict:
    """``dynamo=False`` where ``torch.onnx.export`` has the keyword (torch
    >= 2.5; its default turned True in 2.9), nothing before."""
    params = inspect.signature(torch.onnx.export).parameters
    return {'dynamo': False} if 'dynamo' in params else {}


def _check_dynamo_exporter():
    """RuntimeError naming the torch the dynamo exporter needs, on an
    older one."""
    from torch import export
    if not hasattr(getattr(export, 'Dim', None), 'DYNAMIC'):
        raise RuntimeError(
            f'the dynamo exporter needs torch >= {DYNAMO_MIN_TORCH}, but '
            f'torch {torch.__version__} is installed: use the TorchScript '
            "exporter (exporter='torchscript', --exporter torchscript)")


def _torchscript_export(module: nn.Module, example: torch.Tensor, out: str,
                        dynamic: Dict[str, int], kind: str,
                        output_names: List[str], opset: int):
    """``torch.onnx.export(dynamo=False)``: the dynamic input axes, the
    batch of every output and, for feature maps, their time and space."""
    if opset > _torchscript_max_opset():
        raise ValueError(f'opset {opset}: the TorchScript exporter of torch '
                         f'{torch.__version__} writes opsets up to '
                         f'{_torchscript_max_opset()}')
    kind_axes = AXES[kind]
    dynamic_axes = None
    if dynamic:
        dynamic_axes = {'inputs': {i: a for a, i in dynamic.items()}}
        spatial = [a for a in ('time', 'height', 'width') if a in dynamic]
        for name in output_names:
            dynamic_axes[name] = {0: 'batch'} if 'batch' in dynamic else {}
            if kind in ('detector', 'backbone3d'):  # (N, C, [T,] H, W)
                dynamic_axes[name].update({
                    2 + k: f'{name}_{a}'
                    for k, a in enumerate(kind_axes[2:]) if a in spatial
                })
    with torch.no_grad(), warnings.catch_warnings():
        # the backbones' input checks read shapes in Python: expected
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        torch.onnx.export(
            module, (example, ),
            out,
            **_dynamo_keyword(),
            input_names=['inputs'],
            output_names=output_names,
            opset_version=opset,
            dynamic_axes=dynamic_axes,
            do_constant_folding=True)


def _dynamo_export(module: nn.Module, example: torch.Tensor, out: str,
                   dynamic: Dict[str, int], kind: str, output_names: List[str],
                   opset: int):
    """``torch.onnx.export(dynamo=True)`` with the dynamic input axes as
    ``torch.export`` dims (the outputs' follow), optimised."""
    _check_dynamo_exporter()
    try:
        import onnxscript  # noqa: F401
    except ImportError as e:
        raise ImportError('the dynamo exporter needs onnxscript: pip '
                          'install "mm_iresnet[deploy]"') from e
    from torch.export import Dim
    dims = {i: Dim.DYNAMIC for i in dynamic.values()}
    dynamic_shapes = (dims, ) if dims else None
    with torch.no_grad():
        program = torch.onnx.export(
            module, (example, ),
            dynamo=True,
            dynamic_shapes=dynamic_shapes,
            optimize=True,
            input_names=['inputs'],
            output_names=output_names,
            opset_version=opset)
    program.save(out)


#: exporter name -> the function that exports with it
EXPORTERS = {'torchscript': _torchscript_export, 'dynamo': _dynamo_export}
#: same kernels in onnxruntime as 'dynamo', faster to export (see above)
DEFAULT_EXPORTER = 'torchscript'


def export_module(module: nn.Module,
                  example: torch.Tensor,
                  out: str,
                  axes: Sequence[str] = (),
                  kind: str = 'detector',
                  output_names: Optional[Sequence[str]] = None,
                  exporter: str = DEFAULT_EXPORTER,
                  opset: int = OPSET) -> List[str]:
    """Export ``module`` (eval mode) called on ``example`` to ``out``.

    ``kind`` names the input axes (:data:`AXES`; a bare 2D backbone takes
    a 'detector' input, a 3D one a 'backbone3d' input); ``axes`` are the
    dynamic ones. ``output_names`` default to ``out0``.. (one per output).
    Returns the output names."""
    if exporter not in EXPORTERS:
        raise ValueError(f'unknown exporter {exporter!r}; valid: '
                         f'{", ".join(EXPORTERS)}')
    kind_axes = AXES[kind]
    unknown = [a for a in axes if a not in kind_axes]
    if unknown:
        raise ValueError(f'{unknown}: not axes of a {kind} input '
                         f'({", ".join(kind_axes)})')
    if output_names is None:
        with torch.no_grad():
            outs = module(example)
        n = len(outs) if isinstance(outs, (tuple, list)) else 1
        output_names = [f'out{i}' for i in range(n)]
    output_names = list(output_names)
    dynamic = {a: kind_axes.index(a) for a in axes}
    EXPORTERS[exporter](module, example, out, dynamic, kind, output_names,
                        opset)
    return output_names


def _example_input(shape: Sequence[int], kind: str) -> torch.Tensor:
    """A reproducible standard-normal input of ``shape`` (its own generator:
    the caller's random state is left alone)."""
    shape = tuple(int(s) for s in shape)
    if len(shape) != len(AXES[kind]):
        raise ValueError(
            f'--shape {" ".join(map(str, shape))}: a {kind} input '
            f'has {len(AXES[kind])} axes ({", ".join(AXES[kind])})')
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0))


def export_onnx(config: Union[str, Config],
                checkpoint: Optional[str],
                out: str,
                shape: Optional[Sequence[int]] = None,
                dynamic: Union[None, bool, Sequence[str]] = None,
                exporter: str = DEFAULT_EXPORTER,
                opset: int = OPSET,
                cfg_options: Optional[dict] = None,
                verify: bool = True,
                model: Optional[nn.Module] = None) -> dict:
    """Export the model of ``config`` with ``checkpoint`` to ``out``.

    Args:
        config: an mmdet / mmaction2 config file (or Config).
        checkpoint: weights to load (a file you trust, see
            :func:`~mm_iresnet.deploy.build.build_deploy_model`); None
            keeps the initialisation.
        out: the .onnx file to write.
        shape: the example input shape (:data:`AXES` says the axes of each
            kind); default from the config's test pipeline.
        dynamic: axes to export dynamic: None/False none, True all the model
            allows, or names from :data:`AXES`.
        exporter: 'torchscript' or 'dynamo'.
        opset: ONNX opset.
        cfg_options: config overrides.
        verify: run the file in onnxruntime on the example input and report
            the relative error of each output against PyTorch.
        model: an already built model (eval, deploy form) instead of
            building one from config and checkpoint.

    Returns:
        dict with ``out``, ``kind``, ``shape``, ``dynamic`` (axes),
        ``fixed`` (axis -> reason), ``outputs`` (names), ``exporter``,
        ``seconds`` (the export's time) and, with ``verify``, ``rel_err``
        (per output).
    """
    if model is None:
        model, cfg = build_deploy_model(config, checkpoint, cfg_options)
    else:
        cfg = load_config(config, cfg_options)
    wrapper = export_wrapper(model).eval()
    axes = resolve_dynamic(wrapper, dynamic)
    example = _example_input(
        default_shape(cfg, wrapper.kind) if shape is None else shape,
        wrapper.kind)
    with torch.no_grad():
        reference = wrapper(example)  # the model's own errors come first
    reference = reference if isinstance(reference, tuple) else (reference, )
    names = wrapper.output_names(reference)
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    start = time.perf_counter()
    export_module(wrapper, example, out, axes, wrapper.kind, names, exporter,
                  opset)
    info = dict(
        out=out,
        kind=wrapper.kind,
        shape=tuple(example.shape),
        dynamic=axes,
        fixed=wrapper.fixed_axes(),
        outputs=names,
        exporter=exporter,
        seconds=time.perf_counter() - start)
    if verify:
        info['rel_err'] = rel_errors(
            run_onnxruntime(out, example.numpy()), reference)
    return info
