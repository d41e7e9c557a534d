"""Running exported files in onnxruntime: sessions, a detector whose
backbone + neck run there, and the relative error against PyTorch."""
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

__all__ = [
    'make_session', 'run_onnxruntime', 'rel_errors', 'OnnxFeatures',
    'use_onnx_features'
]


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
    return ort.InferenceSession(
        path, options, providers=['CPUExecutionProvider'])


def run_onnxruntime(path: str,
                    inputs: np.ndarray,
                    threads: Optional[int] = None) -> List[np.ndarray]:
    """Outputs of the ONNX file at ``path`` for ``inputs`` in onnxruntime
    (:func:`make_session`)."""
    return make_session(path, threads).run(None, {'inputs': inputs})


def rel_errors(outputs: Sequence[np.ndarray],
               reference: Sequence[torch.Tensor]) -> List[float]:
    """||out - ref|| / ||ref|| per output."""
    if len(outputs) != len(reference):
        raise ValueError(f'{len(outputs)} outputs against '
                         f'{len(reference)} references')
    errs = []
    for out, ref in zip(outputs, reference):
        ref = ref.detach().cpu().numpy()
        errs.append(
            float(np.linalg.norm(out - ref) / max(np.linalg.norm(ref), 1e-30)))
    return errs


class OnnxFeatures(nn.Module):
    """An exported backbone + neck run by onnxruntime, in the place of a
    detector's backbone (see :func:`use_onnx_features`): tensors in, the
    feature tuple out, as torch tensors."""

    def __init__(self, path: str, threads: Optional[int] = None):
        super().__init__()
        self.path = path
        self.session = make_session(path, threads)

    def forward(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        outs = self.session.run(
            None,
            {'inputs': inputs.detach().float().cpu().contiguous().numpy()})
        return tuple(torch.from_numpy(o).to(inputs.device) for o in outs)


def use_onnx_features(detector: nn.Module,
                      path: str,
                      threads: Optional[int] = None) -> nn.Module:
    """Make ``detector`` (mmdet) compute its backbone + neck with the ONNX
    file at ``path`` (written by :func:`~mm_iresnet.deploy.export_onnx` for
    this detector) in onnxruntime; its heads, NMS and RoI ops stay in
    PyTorch, so ``predict`` / ``test_step`` (and a Runner's test loop) work
    as before. Changes ``detector`` in place and returns it."""
    if getattr(detector, 'cls_head', None) is not None or \
            not hasattr(detector, 'extract_feat'):
        raise TypeError('use_onnx_features is for mmdet detectors; export a '
                        'whole recogniser instead')
    detector.backbone = OnnxFeatures(path, threads)
    detector.neck = None  # the file holds the neck too
    return detector
