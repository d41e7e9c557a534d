"""2D -> 3D weight inflation, by module name.

The 2D and 3D backbones build their layers with the same names (one block
implementation), so a 3D parameter takes the 2D parameter of the same key:
a conv kernel is repeated over time and divided by its temporal size
(``w3d = w2d.unsqueeze(2).expand_as(w3d) / kT``), so a clip of identical
frames gives the 2D features; norms and everything else are copied.
"""
from typing import Callable, Dict, List, NamedTuple, Optional

import torch

__all__ = ['InflationReport', 'inflate_state_dict']


class InflationReport(NamedTuple):
    inflated: List[str]  # conv kernels repeated over time
    copied: List[str]  # same shape in 2D and 3D
    missing: List[str]  # 3D keys absent from the 2D checkpoint
    mismatched: List[str]  # present but of incompatible shape
    unused: List[str]  # 2D keys no 3D parameter took (fc, ...)


def _strip_prefix(state_dict: Dict[str, torch.Tensor],
                  own_keys) -> Dict[str, torch.Tensor]:
    """Accept backbone checkpoints saved inside a whole model
    (``backbone.`` prefix) or a DataParallel wrapper (``module.``)."""
    for prefix in ('module.', 'backbone.', 'module.backbone.'):
        if not any(k in state_dict for k in own_keys) and any(
                k.startswith(prefix) for k in state_dict):
            state_dict = {
                k[len(prefix):]: v
                for k, v in state_dict.items() if k.startswith(prefix)
            }
    return state_dict


def inflate_state_dict(model3d: torch.nn.Module,
                       state_dict_2d: Dict[str, torch.Tensor],
                       pad_inputs: bool = False,
                       check: Optional[Callable] = None) -> InflationReport:
    """Load ``state_dict_2d`` into ``model3d`` in place, inflating convs.

    With ``pad_inputs``, a conv that takes more input channels in 3D than in
    2D (SlowFast's lateral features appended to a stage's input) gets the 2D
    kernel on the first channels and zeros on the added ones, so the added
    inputs contribute nothing at first (as mmaction's SlowFast inflates).
    ``check(model3d, state_dict_2d, unfitted)``, when given, sees the keys of
    ``model3d`` the checkpoint does not fill before anything is written, and
    may raise.
    """
    own = model3d.state_dict()
    state_dict_2d = _strip_prefix(state_dict_2d, own.keys())
    plan = {
        key: _inflated(target, state_dict_2d.get(key), pad_inputs)
        for key, target in own.items()
    }
    if check is not None:
        check(model3d, state_dict_2d, [
            k for k, source in plan.items()
            if not isinstance(source, torch.Tensor)
            and not k.endswith('num_batches_tracked')
        ])
    inflated, copied, missing, mismatched = [], [], [], []
    with torch.no_grad():
        for key, source in plan.items():
            if source is None:
                missing.append(key)
            elif isinstance(source, str):
                mismatched.append(f'{key}: {source}')
            else:
                (copied if source.shape == state_dict_2d[key].shape else
                 inflated).append(key)
                own[key].copy_(source)
    unused = sorted(set(state_dict_2d) - set(own))
    return InflationReport(inflated, copied, missing, mismatched, unused)


def _inflated(target: torch.Tensor, source: Optional[torch.Tensor],
              pad_inputs: bool):
    """The value ``target`` takes from 2D ``source``: a tensor of its shape,
    None when there is no source, or why the shapes do not fit."""
    if source is None:
        return None
    if pad_inputs and target.dim() == source.dim() + 1 and \
            target.shape[1] > source.shape[1] and \
            target.shape[0] == source.shape[0]:
        source = torch.cat([
            source,
            source.new_zeros(source.shape[0], target.shape[1] -
                             source.shape[1], *source.shape[2:])
        ],
                           dim=1)
    if source.shape == target.shape:
        return source
    if target.dim() == source.dim() + 1 and \
            target.shape[:2] + target.shape[3:] == source.shape:
        return source.unsqueeze(2).expand_as(target) / target.shape[2]
    return f'2D {tuple(source.shape)} vs 3D {tuple(target.shape)}'
