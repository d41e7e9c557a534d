"""The input of an exported model: the axes of each kind of input, which of
them are dynamic, and an example shape read from the config's test pipeline.
"""
from typing import Dict, List, Sequence, Tuple, Union

from mmengine.config import Config

from ..configs import loader_datasets

__all__ = ['AXES', 'default_shape', 'resolve_dynamic']

#: the input axes of each kind of exported model, in order
AXES = {
    'detector': ('batch', 'channels', 'height', 'width'),
    'recognizer2d': ('batch', 'frames', 'channels', 'height', 'width'),
    'recognizer3d': ('batch', 'views', 'channels', 'time', 'height', 'width'),
    # bare backbones (tests, benchmarks): a detector's input is a 2D one's
    'backbone3d': ('batch', 'channels', 'time', 'height', 'width'),
}


def _test_pipeline(cfg: Config) -> list:
    """The pipeline of the test (else the validation) dataset."""
    return next((list(dataset['pipeline'])
                 for _, dataset in loader_datasets(cfg, ('test', 'val'))
                 if dataset.get('pipeline')), [])


def _size(value, default: int) -> Tuple[int, int]:
    """(H, W) of a crop_size / scale given as int or (W, H)."""
    if value is None:
        return default, default
    if isinstance(value, int):
        return value, value
    w, h = value
    return (h if h > 0 else w), w


def _detector_shape(steps: Dict[str, dict], cfg: Config,
                    default_size: int) -> Tuple[int, ...]:
    """The Resize scale, padded to ``pad_size_divisor``."""
    resize = steps.get('Resize') or steps.get('RandomResize') or {}
    scale = resize.get('scale')
    if isinstance(scale, (list, tuple)) and scale and \
            isinstance(scale[0], (list, tuple)):
        scale = scale[0]
    h, w = _size(scale, default_size)
    if resize.get('keep_ratio') and isinstance(scale, (list, tuple)):
        h = w = min(scale)  # a square image fits any keep_ratio scale
    div = cfg.model.get('data_preprocessor', {}).get('pad_size_divisor',
                                                     1) or 1
    return (1, 3, -(-h // div) * div, -(-w // div) * div)


def _recognizer_shape(steps: Dict[str, dict], kind: str,
                      default_size: int) -> Tuple[int, ...]:
    """``SampleFrames`` (clip_len x num_clips), the crop size and the number
    of crops."""
    sample = steps.get('SampleFrames') or steps.get('UniformSample') or {}
    clip_len = sample.get('clip_len', 1)
    num_clips = sample.get('num_clips', 1)
    crop = next(
        (steps[t]
         for t in ('CenterCrop', 'ThreeCrop', 'TenCrop') if t in steps), None)
    crops = {
        'ThreeCrop': 3,
        'TenCrop': 10
    }.get(crop.get('type') if crop else None, 1)
    if crop:
        h, w = _size(crop.get('crop_size'), default_size)
    else:
        resize = steps.get('Resize', {})
        h, w = _size(
            resize.get('scale') if isinstance(resize.get('scale'), int)
            or resize.get('keep_ratio') is False else None, default_size)
    if kind == 'recognizer3d':
        return (1, num_clips * crops, 3, clip_len, h, w)
    return (1, num_clips * clip_len * crops, 3, h, w)


def default_shape(cfg: Config,
                  kind: str,
                  default_size: int = 224) -> Tuple[int, ...]:
    """An input shape for ``kind`` read from the config's test pipeline:
    detectors the Resize scale padded to ``pad_size_divisor``; recognisers
    ``SampleFrames`` (clip_len x num_clips), the crop size and the number of
    crops; ``default_size`` where the pipeline does not say."""
    steps = {t.get('type'): t for t in _test_pipeline(cfg)}
    if kind == 'detector':
        return _detector_shape(steps, cfg, default_size)
    return _recognizer_shape(steps, kind, default_size)


def resolve_dynamic(wrapper, dynamic: Union[None, bool,
                                            Sequence[str]]) -> List[str]:
    """The dynamic axes of the export of ``wrapper`` (an
    :class:`~mm_iresnet.deploy.wrappers.ExportWrapper`): none
    (``None``/``False``), all the model allows (``True`` or an empty list),
    or the named ones (ValueError for an axis the model fixes, naming the
    option that fixes it)."""
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
