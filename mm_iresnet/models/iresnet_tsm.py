"""IResNetTSM: the 2D iResNet with temporal shift, for mmaction2's
Recognizer2D (TSN/TSM-style, e.g. Something-Something-v2)."""
from typing import Optional, Sequence

from mmengine.registry import MODELS

from ..deps import require
from .iresnet import IResNet

__all__ = ['IResNetTSM', 'TemporalShiftHook']


class TemporalShiftHook:
    """Forward pre-hook shifting 1/shift_div of the channels one segment
    back and 1/shift_div one segment forward in time (TSM). As a hook it
    leaves module and parameter names untouched, so 2D checkpoints load
    as they are."""

    def __init__(self, num_segments: int, shift_div: int):
        self.num_segments = num_segments
        self.shift_div = shift_div
        require('mmaction')  # mmaction's TemporalShift does the shift

    def __call__(self, module, args):
        from mmaction.models.backbones.resnet_tsm import TemporalShift
        x = args[0]
        if x.shape[0] % self.num_segments:
            raise ValueError(
                f'temporal shift over num_segments={self.num_segments} '
                f'needs a batch of clips x segments, got {x.shape[0]} '
                'frames')
        return (TemporalShift.shift(x, self.num_segments, self.shift_div),
                ) + tuple(args[1:])


@MODELS.register_module()
class IResNetTSM(IResNet):
    """2D iResNet with the temporal shift module, as mmaction's ResNetTSM.

    Input: frames ``(N * num_segments, C, H, W)``; output as mmaction's 2D
    ResNet: a tensor when ``out_indices`` names one stage (default the last).

    Args:
        num_segments (int): frames per clip.
        is_shift (bool): apply the shift (False: a TSN backbone).
        shift_div (int): 1/shift_div of the channels move each way.
        shift_place (str): 'blockres' shifts the residual branch (before the
            first conv of each block), 'block' the whole block input.
        temporal_pool, non_local: mmaction's options, not built here (a
            clear error when asked for).
        pretrained (str, optional): 2D checkpoint in this package's naming.
        **kwargs: :class:`IResNet` arguments.
    """

    single_output_as_tensor = True
    pretrained_is_deprecated = False

    def __init__(self,
                 depth: Optional[int] = 50,
                 num_segments: int = 8,
                 is_shift: bool = True,
                 shift_div: int = 8,
                 shift_place: str = 'blockres',
                 temporal_pool: bool = False,
                 non_local: Sequence[int] = (0, 0, 0, 0),
                 non_local_cfg: dict = dict(),
                 pretrained: Optional[str] = None,
                 pretrained2d: bool = True,
                 out_indices: Sequence[int] = (3, ),
                 norm_eval: bool = False,
                 **kwargs):
        if shift_place not in ('block', 'blockres'):
            raise ValueError("shift_place must be 'block' or 'blockres', got "
                             f'{shift_place!r}')
        if temporal_pool:
            raise ValueError('temporal_pool=True is not supported by '
                             'IResNetTSM; use temporal_pool=False')
        if any(non_local):
            raise ValueError('non_local is not supported by IResNetTSM; use '
                             'IResNet3d for non-local blocks')
        if num_segments < 1 or shift_div < 1:
            raise ValueError('num_segments and shift_div must be >= 1')
        if pretrained is not None and not pretrained2d:
            raise ValueError('IResNetTSM is 2D: pretrained must be a 2D '
                             'checkpoint (pretrained2d=True)')
        super().__init__(depth=depth, out_indices=out_indices,
                         norm_eval=norm_eval, pretrained=pretrained,
                         **kwargs)
        self.num_segments = num_segments
        self.is_shift = is_shift
        self.shift_div = shift_div
        self.shift_place = shift_place
        if is_shift:
            hook = TemporalShiftHook(num_segments, shift_div)
            for name in self.res_layers:
                for block in getattr(self, name):
                    target = block if shift_place == 'block' else block.conv1
                    target.register_forward_pre_hook(hook)
