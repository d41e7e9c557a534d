"""Deployment: ONNX export of detectors' backbone + neck and of whole
recognisers, with the backbone in its deploy form (BN folded).

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

Axes may be exported dynamic where the model allows it; an axis a model
fixes (the frames of a TSM clip, the clip length of SlowFast) is refused
with the option that fixes it.

The modules: :mod:`.build` (model + checkpoint, deploy form),
:mod:`.shapes` (input axes and example shapes), :mod:`.wrappers` (what is
exported for each kind of model), :mod:`.export` (the exporters and
:func:`export_onnx`), :mod:`.runtime` (onnxruntime).
"""
from .build import build_deploy_model, switch_to_deploy
from .export import (DEFAULT_EXPORTER, EXPORTERS, OPSET, export_module,
                     export_onnx)
from .runtime import (OnnxFeatures, make_session, rel_errors, run_onnxruntime,
                      use_onnx_features)
from .shapes import AXES, default_shape, resolve_dynamic
from .wrappers import (DetectorFeatures, ExportWrapper, RecognizerScores,
                       export_wrapper)

__all__ = [
    'AXES', 'DEFAULT_EXPORTER', 'EXPORTERS', 'OPSET', 'DetectorFeatures',
    'ExportWrapper', 'OnnxFeatures', 'RecognizerScores', 'build_deploy_model',
    'default_shape', 'export_module', 'export_onnx', 'export_wrapper',
    'make_session', 'rel_errors', 'resolve_dynamic', 'run_onnxruntime',
    'switch_to_deploy', 'use_onnx_features'
]
