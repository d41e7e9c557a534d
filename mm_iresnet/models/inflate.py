"""2D -> 3D weight inflation, by module name.

The 2D and 3D backbones build their layers with the same names (one block
implementation), so a 3D parameter takes the 2D parameter of the same key:
a conv kernel is repeated over time and divided by its temporal size
(``w3d = w2d.unsqueeze(2).expand_as(w3d) / kT``), so a clip of identical
frames gives the 2D features; norms and everything else are copied.
"""
from typing import Dict, List, NamedTuple

import torch

__all__ = ['InflationReport', 'inflate_state_dict']


class InflationReport(NamedTuple):
    inflated: List[str]      # conv kernels repeated over time
    copied: List[str]        # same shape in 2D and 3D
    missing: List[str]       # 3D keys absent from the 2D checkpoint
    mismatched: List[str]    # present but of incompatible shape
    unused: List[str]        # 2D keys no 3D parameter took (fc, ...)


def _strip_prefix(state_dict: Dict[str, torch.Tensor],
                  own_keys) -> Dict[str, torch.Tensor]:
    """Accept backbone checkpoints saved inside a whole model
    (``backbone.`` prefix) or a DataParallel wrapper (``module.``)."""
    for prefix in ('module.', 'backbone.', 'module.backbone.'):
        if not any(k in state_dict for k in own_keys) and any(
                k.startswith(prefix) for k in state_dict):
            state_dict = {k[len(prefix):]: v for k, v in state_dict.items()
                          if k.startswith(prefix)}
    return state_dict


def inflate_state_dict(model3d: torch.nn.Module,
                       state_dict_2d: Dict[str, torch.Tensor],
                       pad_inputs: bool = False) -> InflationReport:
    """Load ``state_dict_2d`` into ``model3d`` in place, inflating convs.

    With ``pad_inputs``, a conv that takes more input channels in 3D than in
    2D (SlowFast's lateral features appended to a stage's input) gets the 2D
    kernel on the first channels and zeros on the added ones, so the added
    inputs contribute nothing at first (as mmaction's SlowFast inflates).
    """
    own = model3d.state_dict()
    state_dict_2d = _strip_prefix(state_dict_2d, own.keys())
    inflated, copied, missing, mismatched = [], [], [], []
    with torch.no_grad():
        for key, target in own.items():
            if key not in state_dict_2d:
                missing.append(key)
                continue
            source = state_dict_2d[key]
            if pad_inputs and target.dim() == source.dim() + 1 and \
                    target.shape[1] > source.shape[1] and \
                    target.shape[0] == source.shape[0]:
                source = torch.cat([source, source.new_zeros(
                    source.shape[0], target.shape[1] - source.shape[1],
                    *source.shape[2:])], dim=1)
            if source.shape == target.shape:
                target.copy_(source)
                copied.append(key)
            elif target.dim() == source.dim() + 1 and \
                    target.shape[:2] + target.shape[3:] == source.shape:
                kt = target.shape[2]
                target.copy_(source.unsqueeze(2).expand_as(target) / kt)
                inflated.append(key)
            else:
                mismatched.append(
                    f'{key}: 2D {tuple(source.shape)} vs 3D '
                    f'{tuple(target.shape)}')
    unused = sorted(set(state_dict_2d) - set(own))
    return InflationReport(inflated, copied, missing, mismatched, unused)
