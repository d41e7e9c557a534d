"""Checkpoint files: safe loading, key reports, what a file was trained as,
and the types a trusted training checkpoint may hold.

A leaf module (it imports torch alone): the models, the converter and the
runner all read checkpoints through it.

**The trust rule.** torch >= 2.6 loads with ``weights_only=True``, which
refuses the Python objects mmengine's own checkpoints hold (the message
hub's ``HistoryBuffer``, numpy values). Files the user named on the command
line and files the run wrote itself (under its work_dir, :func:`is_trusted`)
load with those few types allowed (:func:`trusted_checkpoint_load`, still
``weights_only=True``: any other object, a pickle payload included, is
refused); everything else (pretrained weights, ``load_from`` URLs) loads
tensors and plain containers only.
"""
import contextlib
import os
import os.path as osp
import pickle
import tempfile
import warnings
from collections import OrderedDict
from typing import Dict, Iterable

import torch
from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present

__all__ = ['CheckpointError', 'load_state_dict_file', 'check_state_dict',
           'checkpoint_meta', 'warn_if_other_ordering', 'is_trusted',
           'trusted_checkpoint_load', 'save_atomic']


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read or does not fit the backbone."""


def _safe_load(path: str, mmap: bool = False):
    """``torch.load(weights_only=True)`` with one clear error per failure;
    ``mmap`` maps the tensors instead of reading them."""
    with open(path, 'rb') as f:
        head = f.read(64)
    # torch.save writes a zip archive (PK), older torch a pickle (0x80)
    if not head.startswith((b'PK', b'\x80')):
        what = 'an HTML page' if head.lstrip().lower().startswith(
            (b'<!doctype html', b'<html')) else 'unknown data'
        raise CheckpointError(
            f'{path}: not a readable PyTorch checkpoint: the file is {what} '
            f'(it starts with {head[:24]!r})')
    try:
        return torch.load(path, map_location='cpu', weights_only=True,
                          mmap=mmap)
    except FileNotFoundError:
        raise
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f'{path}: refused to load, it holds Python objects beyond '
            f'tensors and plain containers (weights_only=True). Only load '
            f'files you trust otherwise. Details: {str(e).splitlines()[0]}'
        ) from e
    except Exception as e:  # torch raises many types for a damaged file
        raise CheckpointError(
            f'{path}: not a readable PyTorch checkpoint (truncated or not a '
            f'checkpoint): {str(e).splitlines()[0]}') from e


def save_atomic(obj, path: str):
    """``torch.save`` to a temporary file beside ``path``, then rename it:
    ``path`` is either the whole file or absent, never half-written."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f'.{osp.basename(path)}.',
                               suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            torch.save(obj, f)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def load_state_dict_file(path: str) -> Dict[str, torch.Tensor]:
    """Load tensors only (``weights_only=True``): a pickle payload is refused.

    Unwraps ``state_dict`` / ``model`` containers and ``module.`` prefixes.
    A ``scheme://`` path goes through mmengine's ``CheckpointLoader`` (the
    ``iresnet://`` names of :mod:`mm_iresnet.weights`, URLs, ...).
    """
    if '://' in path:
        from mmengine.runner import CheckpointLoader
        obj = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    else:
        obj = _safe_load(path)
    if isinstance(obj, dict):
        for key in ('state_dict', 'model'):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(
            isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f'{path}: holds no state dict of tensors')
    state_dict = OrderedDict(obj)
    consume_prefix_in_state_dict_if_present(state_dict, 'module.')
    return state_dict


def checkpoint_meta(path) -> dict:
    """The ``meta`` this package's converter stored in ``path`` (empty for
    any other file, a URL or a file that cannot be read safely)."""
    if not isinstance(path, str) or '://' in path or not osp.isfile(path):
        return {}
    try:
        # the tensors stay on disk: the loader reads them once, later
        obj = _safe_load(path, mmap=True)
    except CheckpointError:
        return {}
    meta = obj.get('meta') if isinstance(obj, dict) else None
    return meta if isinstance(meta, dict) else {}


def warn_if_other_ordering(meta: dict, ordering: str, where: str) -> bool:
    """Warn when weights trained with one block ordering (``meta['trained_
    ordering']``, written by the converter) go into a network of another.
    Returns whether it warned."""
    trained = meta.get('trained_ordering')
    if not trained or trained == ordering:
        return False
    warnings.warn(
        f'{where}: these weights were trained with ordering={trained!r} '
        f'(source {meta.get("src")!r}), but the network uses '
        f'ordering={ordering!r}; it computes another function with them. '
        f'Use ordering={trained!r} to get the trained network.',
        stacklevel=3)
    return True


def check_state_dict(model: torch.nn.Module,
                     state_dict: Dict[str, torch.Tensor]):
    """Raise CheckpointError naming every missing, unexpected or mis-shaped
    key of ``state_dict`` for ``model``."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    shapes = sorted(f'{k}: checkpoint {tuple(v.shape)} vs model '
                    f'{tuple(own[k].shape)}' for k, v in state_dict.items()
                    if k in own and own[k].shape != v.shape)
    problems = [f'{title} ({len(keys)}): {", ".join(keys)}'
                for title, keys in (('missing keys', missing),
                                    ('unexpected keys', unexpected),
                                    ('mis-shaped keys', shapes)) if keys]
    if problems:
        raise CheckpointError('checkpoint does not fit '
                              f'{type(model).__name__}:\n  ' +
                              '\n  '.join(problems))


def is_trusted(filename, trusted: Iterable[str], work_dir: str) -> bool:
    """A local file named in ``trusted`` (real paths) or under
    ``work_dir``."""
    if not isinstance(filename, str) or '://' in filename:
        return False
    path = osp.realpath(filename)
    own = osp.realpath(work_dir) + osp.sep
    return path in set(trusted) or path.startswith(own)


def _history_buffer_method(owner, name: str):
    """``getattr`` as a training checkpoint may use it: only to name a
    statistics method of mmengine's ``HistoryBuffer`` (the message hub
    pickles its buffers' methods so); anything else is refused."""
    from mmengine.logging import HistoryBuffer
    if owner is HistoryBuffer and not name.startswith('_') and \
            callable(vars(HistoryBuffer).get(name)):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'refused getattr({owner!r}, {name!r}): a checkpoint may only name '
        'the statistics methods of HistoryBuffer')


def _training_checkpoint_globals() -> list:
    """The Python objects (besides tensors and plain containers) in a
    checkpoint mmengine's Runner writes while training: the message hub's
    ``HistoryBuffer`` (with its statistics methods), numpy arrays, scalars
    and dtypes (under numpy 1's and numpy 2's module names)."""
    import numpy as np
    from mmengine.logging import HistoryBuffer
    multiarray = np._core.multiarray if hasattr(np, '_core') else \
        np.core.multiarray
    dtypes = [type(np.dtype(t)) for t in (
        np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8,
        np.float16, np.float32, np.float64)]
    return [HistoryBuffer, np.ndarray, np.dtype, *dtypes,
            (_history_buffer_method, 'builtins.getattr')] + [
        (getattr(multiarray, name), f'{module}.{name}')
        for module in ('numpy.core.multiarray', 'numpy._core.multiarray')
        for name in ('_reconstruct', 'scalar')]


@contextlib.contextmanager
def trusted_checkpoint_load():
    """Within the block, ``torch.load(weights_only=True)`` (torch's default)
    also accepts the types of :func:`_training_checkpoint_globals`; anything
    else is still refused. ``torch.load`` itself is left as it is."""
    with torch.serialization.safe_globals(_training_checkpoint_globals()):
        yield
