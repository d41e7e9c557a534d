"""What is exported for a model: a module with one tensor input and a tuple
of tensors (or one tensor) out, that knows the kind of its input
(:data:`~mm_iresnet.deploy.shapes.AXES`), the axes it cannot take dynamic
and the names of its outputs."""
from typing import Dict, List, Tuple

import torch
import torch.nn as nn

__all__ = [
    'ExportWrapper', 'DetectorFeatures', 'RecognizerScores', 'export_wrapper'
]


class ExportWrapper(nn.Module):
    """The exported form of ``model``.

    Attributes:
        kind (str): the kind of input, a key of
            :data:`~mm_iresnet.deploy.shapes.AXES`.
    """

    kind = ''

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def fixed_axes(self) -> Dict[str, str]:
        """Axes this model cannot take dynamic -> why (naming the option)."""
        return {}

    def output_names(self, outputs) -> List[str]:
        """One name per output (``outputs`` as :meth:`forward` returns
        them)."""
        return [f'out{i}' for i in range(len(outputs))]


class DetectorFeatures(ExportWrapper):
    """An mmdet detector's backbone + neck: ``(N, 3, H, W)`` -> the tuple of
    multi-scale features (``extract_feat``)."""

    kind = 'detector'

    def forward(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        feats = self.model.extract_feat(inputs)
        return tuple(feats) if isinstance(feats, (tuple, list)) \
            else (feats, )

    def output_names(self, outputs) -> List[str]:
        return [f'feat{i}' for i in range(len(outputs))]


class RecognizerScores(ExportWrapper):
    """A whole mmaction2 recogniser as its ``predict`` computes the scores:
    ``extract_feat(test_mode=True)``, the head, and the head's
    ``average_clip`` over the views of each sample -> ``(N, classes)``."""

    def __init__(self, recognizer: nn.Module):
        super().__init__(recognizer)
        from mmaction.models import Recognizer3D
        self.kind = 'recognizer3d' if isinstance(recognizer, Recognizer3D) \
            else 'recognizer2d'

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        head = self.model.cls_head
        feats, kwargs = self.model.extract_feat(inputs, test_mode=True)
        scores = head(feats, **kwargs)
        return head.average_clip(
            scores, num_segs=scores.shape[0] // inputs.shape[0])

    def _regroups_frames(self) -> bool:
        """Whether the head's or the backbone's temporal modules (shift,
        temporal pool, TAM, non-local over segments) regroup the frames
        into clips; TSN (no shift) does not."""
        backbone, head = self.model.backbone, self.model.cls_head
        return bool(
            getattr(head, 'num_segments', None)
            or (getattr(backbone, 'num_segments', None) and
                (getattr(backbone, 'is_shift', True)
                 or getattr(backbone, 'temporal_pool', False) or any(
                     getattr(m, 'num_segments', None)
                     for m in backbone.modules() if m is not backbone))))

    def fixed_axes(self) -> Dict[str, str]:
        backbone, head = self.model.backbone, self.model.cls_head
        fixed = {}
        segments = getattr(head, 'num_segments', None) or \
            getattr(backbone, 'num_segments', None)
        if self.kind == 'recognizer2d' and self._regroups_frames():
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


def export_wrapper(model: nn.Module) -> ExportWrapper:
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
