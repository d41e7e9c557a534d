"""ONNX export of models built from mmdet / mmaction2 configs.

What is exported (the inputs are what the model's ``data_preprocessor``
hands the model: normalised, batched, in the config's ``format_shape``):

* **detectors** (mmdet): the backbone and the neck, ``extract_feat``: an
  image batch ``(N, 3, H, W)`` in, the neck's multi-scale features out
  (``feat0`` .. ``featK``). The heads, NMS and RoIAlign stay in PyTorch:
  :func:`use_onnx_features` runs a detector with its features from the
  ONNX file (docs/deployment.md says why the whole detector is not
  exported);
* **recognisers** (mmaction2 ``Recognizer2D`` / ``Recognizer3D``: TSN, TSM,
  I3D, SlowOnly, SlowFast, ...): the whole model as its ``predict`` computes
  it, a batch of clips in, class ``scores`` out ``(N, num_classes)``,
  averaged over the views of each sample as the head's ``average_clips``
  says. 3D input ``(N, views, C, T, H, W)``, 2D input ``(N, frames, C, H,
  W)``.

Before export the backbone is switched to its deploy form
(:func:`switch_to_deploy`: every BN that directly follows a conv is folded
into it). Axes may be exported dynamic where the model allows it; an axis a
model fixes (the frames of a TSM clip, the clip length of SlowFast) is
refused with the option that fixes it.

Two exporters: ``'torchscript'`` (``torch.onnx.export(dynamo=False)``) and
``'dynamo'`` (``dynamo=True``, needs onnxscript). After onnxruntime's graph
optimisations both give the same kernels (``tools/benchmark.py --deploy``
checks), so they run equally fast; the TorchScript one is the default
because it exports several times faster and needs no onnxscript
(docs/deployment.md has the figures).
"""
import os
import os.path as osp
import time
import warnings
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config

from ..checkpoint import check_state_dict, trusted_checkpoint_load

__all__ = ['AXES', 'EXPORTERS', 'DEFAULT_EXPORTER', 'DetectorFeatures',
           'RecognizerScores', 'build_deploy_model', 'switch_to_deploy',
           'export_wrapper', 'default_shape', 'resolve_dynamic',
           'export_module', 'export_onnx', 'run_onnxruntime', 'OnnxFeatures',
           'use_onnx_features', 'make_session', 'rel_errors']

#: exporter name -> ``torch.onnx.export``'s ``dynamo`` argument
EXPORTERS = {'torchscript': False, 'dynamo': True}
#: same kernels in onnxruntime as 'dynamo', faster to export (see above)
DEFAULT_EXPORTER = 'torchscript'
OPSET = 18

#: the input axes of each kind of exported model, in order
AXES = {
    'detector': ('batch', 'channels', 'height', 'width'),
    'recognizer2d': ('batch', 'frames', 'channels', 'height', 'width'),
    'recognizer3d': ('batch', 'views', 'channels', 'time', 'height',
                     'width'),
    # bare backbones (tests, benchmarks): a detector's input is a 2D one's
    'backbone3d': ('batch', 'channels', 'time', 'height', 'width'),
}


class DetectorFeatures(nn.Module):
    """An mmdet detector's backbone + neck: ``(N, 3, H, W)`` -> the tuple of
    multi-scale features (``extract_feat``)."""

    kind = 'detector'

    def __init__(self, detector: nn.Module):
        super().__init__()
        self.detector = detector

    def forward(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        feats = self.detector.extract_feat(inputs)
        return tuple(feats) if isinstance(feats, (tuple, list)) \
            else (feats, )

    def fixed_axes(self) -> Dict[str, str]:
        return {}

    def output_names(self, outputs) -> List[str]:
        return [f'feat{i}' for i in range(len(outputs))]


class RecognizerScores(nn.Module):
    """A whole mmaction2 recogniser as its ``predict`` computes the scores:
    ``extract_feat(test_mode=True)``, the head, and the head's
    ``average_clip`` over the views of each sample -> ``(N, classes)``."""

    def __init__(self, recognizer: nn.Module):
        super().__init__()
        self.recognizer = recognizer
        from mmaction.models import Recognizer3D
        self.kind = 'recognizer3d' if isinstance(recognizer, Recognizer3D) \
            else 'recognizer2d'

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        head = self.recognizer.cls_head
        feats, kwargs = self.recognizer.extract_feat(inputs, test_mode=True)
        scores = head(feats, **kwargs)
        return head.average_clip(scores,
                                 num_segs=scores.shape[0] // inputs.shape[0])

    def fixed_axes(self) -> Dict[str, str]:
        """Axes this model cannot take dynamic -> why (naming the option)."""
        backbone, head = self.recognizer.backbone, self.recognizer.cls_head
        fixed = {}
        # the head's or the backbone's temporal modules (shift, temporal
        # pool, TAM, non-local over segments) regroup frames into clips;
        # TSN (no shift) does not
        regroups = getattr(head, 'num_segments', None) or (
            getattr(backbone, 'num_segments', None) and (
                getattr(backbone, 'is_shift', True)
                or getattr(backbone, 'temporal_pool', False)
                or any(getattr(m, 'num_segments', None)
                       for m in backbone.modules() if m is not backbone)))
        segments = getattr(head, 'num_segments', None) or \
            getattr(backbone, 'num_segments', None)
        if self.kind == 'recognizer2d' and regroups:
            fixed['frames'] = (
                f'num_segments={segments} of {type(backbone).__name__} / '
                f'{type(head).__name__} fixes the frames of a clip (the '
                'model regroups the batch of frames by it): the frames axis '
                f'stays at the exported size (a multiple of {segments}); '
                'change num_segments in the config to export another')
        if hasattr(backbone, 'resample_rate'):
            fixed['time'] = (
                f'{type(backbone).__name__} subsamples time by resample_rate='
                f'{backbone.resample_rate} and speed_ratio='
                f'{backbone.speed_ratio} and joins the two pathways: the '
                'time axis stays at the exported clip length (--shape)')
        return fixed

    def output_names(self, outputs) -> List[str]:
        return ['scores']


def export_wrapper(model: nn.Module) -> nn.Module:
    """The module that is exported for ``model``: :class:`RecognizerScores`
    for a recogniser (it has a ``cls_head``), :class:`DetectorFeatures` for a
    detector (``backbone`` and ``extract_feat``)."""
    if getattr(model, 'cls_head', None) is not None:
        return RecognizerScores(model)
    if hasattr(model, 'backbone') and hasattr(model, 'extract_feat'):
        return DetectorFeatures(model)
    raise TypeError(f'cannot export {type(model).__name__}: expected an '
                    'mmaction2 recogniser (with cls_head) or an mmdet '
                    'detector (backbone + extract_feat)')


def switch_to_deploy(model: nn.Module) -> List[str]:
    """Call ``switch_to_deploy()`` on the outermost modules of ``model``
    that have it (the iResNet backbones, or each SlowFast pathway); returns
    the folded norms' names."""

    def walk(module, prefix):
        if hasattr(module, 'switch_to_deploy'):
            return [f'{prefix}{n}' for n in module.switch_to_deploy()]
        return [name for child_name, child in module.named_children()
                for name in walk(child, f'{prefix}{child_name}.')]

    return walk(model, '')


def _without_pretrained(cfg: Config) -> Config:
    """``cfg`` without pretrained backbone weights (``Pretrained`` init_cfg
    entries, mmaction's ``pretrained``): the checkpoint replaces them."""

    def strip(obj):
        if isinstance(obj, dict):
            for key, value in list(obj.items()):
                if key == 'pretrained' and isinstance(value, str):
                    obj[key] = None
                elif key == 'init_cfg':
                    entries = value if isinstance(value, list) else [value]
                    kept = [e for e in entries if not (
                        isinstance(e, dict) and e.get('type') == 'Pretrained')]
                    obj[key] = kept if isinstance(value, list) else \
                        (kept[0] if kept else None)
                else:
                    strip(value)
        elif isinstance(obj, list):
            for value in obj:
                strip(value)

    strip(cfg.model)
    return cfg


def _load_config(config: Union[str, Config],
                 cfg_options: Optional[dict]) -> Config:
    if isinstance(config, Config):
        cfg = Config(config.to_dict())
    else:
        if not osp.isfile(config):
            raise FileNotFoundError(f'config file {config!r} not found')
        cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def build_deploy_model(config: Union[str, Config],
                       checkpoint: Optional[str] = None,
                       cfg_options: Optional[dict] = None,
                       deploy: bool = True) -> Tuple[nn.Module, Config]:
    """The model of ``config`` with the weights of ``checkpoint``, in eval
    mode and (``deploy``) deploy form.

    ``checkpoint`` is a file the caller names, so it is unpickled in full
    (the package's trust rule, :mod:`mm_iresnet.checkpoint`), as
    ``tools/test.py`` does with its CHECKPOINT; a checkpoint written by
    ``tools/reparameterize_model.py`` (already folded) loads too. Without a
    checkpoint the model keeps its initialisation. Pretrained backbone
    weights named in the config are not loaded: the checkpoint replaces them.
    """
    from mmengine.registry import MODELS, init_default_scope

    import mm_iresnet  # noqa: F401  (registers the backbones)
    cfg = _without_pretrained(_load_config(config, cfg_options))
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    state, folded_file = None, False
    if checkpoint is not None:
        if not osp.isfile(checkpoint):
            raise FileNotFoundError(f'checkpoint {checkpoint!r} not found')
        with trusted_checkpoint_load():  # the caller named this file
            obj = torch.load(checkpoint, map_location='cpu')
        state = obj.get('state_dict', obj) if isinstance(obj, dict) else obj
        meta = obj.get('meta') if isinstance(obj, dict) else None
        folded_file = isinstance(meta, dict) and bool(meta.get('deploy'))
        if folded_file:  # written by tools/reparameterize_model.py
            cfg.model.backbone.deploy = True
    model = MODELS.build(cfg.model)
    if state is None:
        model.init_weights()
    else:
        check_state_dict(model, state)
        model.load_state_dict(state)
    model.eval()
    if deploy and not folded_file:
        switch_to_deploy(model)
    return model, cfg


def _pipeline(cfg: Config) -> list:
    for loader in ('test_dataloader', 'val_dataloader'):
        dataset = (cfg.get(loader) or {}).get('dataset', {})
        while 'dataset' in dataset:
            dataset = dataset['dataset']
        if dataset.get('pipeline'):
            return list(dataset['pipeline'])
    return []


def _size(value, default: int) -> Tuple[int, int]:
    """(H, W) of a crop_size / scale given as int or (W, H)."""
    if value is None:
        return default, default
    if isinstance(value, int):
        return value, value
    w, h = value
    return (h if h > 0 else w), w


def default_shape(cfg: Config, kind: str, default_size: int = 224
                  ) -> Tuple[int, ...]:
    """An input shape for ``kind`` read from the config's test pipeline:
    detectors the Resize scale padded to ``pad_size_divisor``; recognisers
    ``SampleFrames`` (clip_len x num_clips), the crop size and the number of
    crops; ``default_size`` where the pipeline does not say."""
    steps = {t.get('type'): t for t in _pipeline(cfg)}
    if kind == 'detector':
        resize = steps.get('Resize') or steps.get('RandomResize') or {}
        scale = resize.get('scale')
        if isinstance(scale, (list, tuple)) and scale and \
                isinstance(scale[0], (list, tuple)):
            scale = scale[0]
        h, w = _size(scale, default_size)
        if resize.get('keep_ratio') and isinstance(scale, (list, tuple)):
            h = w = min(scale)  # a square image fits any keep_ratio scale
        div = cfg.model.get('data_preprocessor', {}).get(
            'pad_size_divisor', 1) or 1
        return (1, 3, -(-h // div) * div, -(-w // div) * div)
    sample = steps.get('SampleFrames') or steps.get('UniformSample') or {}
    clip_len = sample.get('clip_len', 1)
    num_clips = sample.get('num_clips', 1)
    crop = next((steps[t] for t in ('CenterCrop', 'ThreeCrop', 'TenCrop')
                 if t in steps), None)
    crops = {'ThreeCrop': 3, 'TenCrop': 10}.get(
        crop.get('type') if crop else None, 1)
    if crop:
        h, w = _size(crop.get('crop_size'), default_size)
    else:
        resize = steps.get('Resize', {})
        h, w = _size(resize.get('scale') if isinstance(
            resize.get('scale'), int) or resize.get('keep_ratio') is False
            else None, default_size)
    if kind == 'recognizer3d':
        return (1, num_clips * crops, 3, clip_len, h, w)
    return (1, num_clips * clip_len * crops, 3, h, w)


def resolve_dynamic(wrapper: nn.Module,
                    dynamic: Union[None, bool, Sequence[str]]) -> List[str]:
    """The dynamic axes of the export: none (``None``/``False``), all the
    model allows (``True`` or an empty list), or the named ones (ValueError
    for an axis the model fixes, naming the option that fixes it)."""
    if not dynamic and dynamic != []:
        return []
    axes = [a for a in AXES[wrapper.kind] if a != 'channels']
    fixed = wrapper.fixed_axes()
    if dynamic is True or dynamic == []:
        return [a for a in axes if a not in fixed]
    dynamic = list(dict.fromkeys(dynamic))
    unknown = [a for a in dynamic if a not in axes]
    if unknown:
        raise ValueError(f'--dynamic {" ".join(unknown)}: not an axis of a '
                         f'{wrapper.kind} input; valid: {", ".join(axes)}')
    for axis in dynamic:
        if axis in fixed:
            raise ValueError(f'--dynamic {axis}: {fixed[axis]}')
    return dynamic


def export_module(module: nn.Module, example: torch.Tensor, out: str,
                  axes: Sequence[str] = (), kind: str = 'detector',
                  output_names: Optional[Sequence[str]] = None,
                  exporter: str = DEFAULT_EXPORTER, opset: int = OPSET):
    """Export ``module`` (eval mode) called on ``example`` to ``out``.

    ``kind`` names the input axes (:data:`AXES`; a bare 2D backbone takes
    a 'detector' input, a 3D one a 'backbone3d' input); ``axes`` are the
    dynamic ones. ``output_names`` default to ``out0``.. (one per output)."""
    if exporter not in EXPORTERS:
        raise ValueError(f'unknown exporter {exporter!r}; valid: '
                         f'{", ".join(EXPORTERS)}')
    kind_axes = AXES[kind]
    unknown = [a for a in axes if a not in kind_axes]
    if unknown:
        raise ValueError(f'{unknown}: not axes of a {kind} input '
                         f'({", ".join(kind_axes)})')
    index = {a: kind_axes.index(a) for a in axes}
    if output_names is None:
        with torch.no_grad():
            outs = module(example)
        n = len(outs) if isinstance(outs, (tuple, list)) else 1
        output_names = [f'out{i}' for i in range(n)]
    output_names = list(output_names)
    kwargs = dict(input_names=['inputs'], output_names=output_names,
                  opset_version=opset)
    if EXPORTERS[exporter]:
        try:
            import onnxscript  # noqa: F401
        except ImportError as e:
            raise ImportError('the dynamo exporter needs onnxscript: pip '
                              'install "mm_iresnet[deploy]"') from e
        from torch.export import Dim
        dynamic_shapes = ({i: Dim.DYNAMIC for i in index.values()}, ) \
            if index else None
        with torch.no_grad():
            program = torch.onnx.export(module, (example, ), dynamo=True,
                                        dynamic_shapes=dynamic_shapes,
                                        optimize=True, **kwargs)
        program.save(out)
        return output_names
    dynamic_axes = None
    if index:
        dynamic_axes = {'inputs': {i: a for a, i in index.items()}}
        spatial = [a for a in ('time', 'height', 'width') if a in index]
        for name in output_names:  # batch and, for features, space and time
            dynamic_axes[name] = {0: 'batch'} if 'batch' in index else {}
            if kind in ('detector', 'backbone3d'):  # (N, C, [T,] H, W)
                feature_axes = kind_axes[2:]
                dynamic_axes[name].update({
                    2 + k: f'{name}_{a}' for k, a in enumerate(feature_axes)
                    if a in spatial})
    with torch.no_grad(), warnings.catch_warnings():
        # the backbones' input checks read shapes in Python: expected
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        torch.onnx.export(module, (example, ), out, dynamo=False,
                          dynamic_axes=dynamic_axes,
                          do_constant_folding=True, **kwargs)
    return output_names


def run_onnxruntime(path: str, inputs: np.ndarray,
                    threads: Optional[int] = None) -> List[np.ndarray]:
    """Outputs of the ONNX file at ``path`` for ``inputs`` in onnxruntime
    (CPU, all graph optimisations, denormals flushed)."""
    return make_session(path, threads).run(None, {'inputs': inputs})


def make_session(path: str, threads: Optional[int] = None):
    """An onnxruntime CPU InferenceSession with every graph optimisation and
    denormals flushed to zero."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.graph_optimization_level = \
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry('session.set_denormal_as_zero', '1')
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(path, options,
                                providers=['CPUExecutionProvider'])


class OnnxFeatures(nn.Module):
    """An exported backbone + neck run by onnxruntime, in the place of a
    detector's backbone (see :func:`use_onnx_features`): tensors in, the
    feature tuple out, as torch tensors."""

    def __init__(self, path: str, threads: Optional[int] = None):
        super().__init__()
        self.path = path
        self.session = make_session(path, threads)

    def forward(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        outs = self.session.run(None, {
            'inputs': inputs.detach().float().cpu().contiguous().numpy()})
        return tuple(torch.from_numpy(o).to(inputs.device) for o in outs)


def use_onnx_features(detector: nn.Module, path: str,
                      threads: Optional[int] = None) -> nn.Module:
    """Make ``detector`` (mmdet) compute its backbone + neck with the ONNX
    file at ``path`` (written by :func:`export_onnx` for this detector) in
    onnxruntime; its heads, NMS and RoI ops stay in PyTorch, so ``predict``
    / ``test_step`` (and a Runner's test loop) work as before. Changes
    ``detector`` in place and returns it."""
    if getattr(detector, 'cls_head', None) is not None or \
            not hasattr(detector, 'extract_feat'):
        raise TypeError('use_onnx_features is for mmdet detectors; export a '
                        'whole recogniser instead')
    detector.backbone = OnnxFeatures(path, threads)
    detector.neck = None  # the file holds the neck too
    return detector


def rel_errors(outputs: Sequence[np.ndarray],
               reference: Sequence[torch.Tensor]) -> List[float]:
    """||out - ref|| / ||ref|| per output."""
    errs = []
    for out, ref in zip(outputs, reference):
        ref = ref.detach().cpu().numpy()
        errs.append(float(np.linalg.norm(out - ref) /
                          max(np.linalg.norm(ref), 1e-30)))
    return errs


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
            :func:`build_deploy_model`); None keeps the initialisation.
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
        cfg = _load_config(config, cfg_options)
    wrapper = export_wrapper(model).eval()
    axes = resolve_dynamic(wrapper, dynamic)
    if shape is None:
        shape = default_shape(cfg, wrapper.kind)
    shape = tuple(int(s) for s in shape)
    if len(shape) != len(AXES[wrapper.kind]):
        raise ValueError(
            f'--shape {" ".join(map(str, shape))}: a {wrapper.kind} input '
            f'has {len(AXES[wrapper.kind])} axes '
            f'({", ".join(AXES[wrapper.kind])})')
    torch.manual_seed(0)
    example = torch.randn(*shape)
    with torch.no_grad():
        reference = wrapper(example)  # the model's own errors come first
    reference = reference if isinstance(reference, tuple) else (reference, )
    names = wrapper.output_names(reference)
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    start = time.perf_counter()
    export_module(wrapper, example, out, axes, wrapper.kind, names, exporter,
                  opset)
    info = dict(out=out, kind=wrapper.kind, shape=shape, dynamic=axes,
                fixed=wrapper.fixed_axes(), outputs=names, exporter=exporter,
                seconds=time.perf_counter() - start)
    if verify:
        info['rel_err'] = rel_errors(
            run_onnxruntime(out, example.numpy()), reference)
    return info
