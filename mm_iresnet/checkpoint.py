"""Checkpoint files: safe loading, key reports, what a file was trained as,
and the types a training checkpoint may hold.

A leaf module (it imports torch alone): the models, the converter and the
runner all read checkpoints through it.

**The load rule.** Every checkpoint is loaded as with ``weights_only=True``:
tensors, plain containers and the few Python objects mmengine's Runner
writes into a training checkpoint (the message hub's ``HistoryBuffer`` with
its statistics methods, numpy arrays, scalars and dtypes,
:func:`training_checkpoint_globals`); any other object, a pickle payload
included, is refused. The rule holds whatever torch does by default and
whatever the caller passes:

* :func:`restricted_load` is ``torch.load`` under the rule. On torch >= 2.6
  it is torch's own ``weights_only`` unpickler with the types allowed for
  the call (``torch.serialization.safe_globals``, whose ``(function, name)``
  form arrived in 2.6). Older torch has no way to extend that unpickler, so
  there it unpickles with :class:`RestrictedUnpickler`: Python's unpickler
  that resolves only the globals torch's ``weights_only`` unpickler allows
  plus those types, and refuses every other global (how the pickle
  documentation restricts globals).
* :func:`restricted_torch_load` makes every ``torch.load`` call inside its
  block a :func:`restricted_load`, also one that passes
  ``weights_only=False`` (as mmengine's main branch does): this package's
  runner, tools and backbones load through it.
* :func:`allow_training_checkpoints_globally`, called on import, adds those
  types to torch's process-wide ``weights_only`` allowlist on torch >= 2.6,
  so that loads outside this package (mmdet's and mmaction2's own
  ``tools/test.py``, ``--resume``, ``init_detector``) read mmengine's
  training checkpoints under torch's default ``weights_only=True``. Before
  torch 2.6, torch's default is a full unpickle, which this package does
  not change outside its own loads.
"""
import contextlib
import functools
import os
import os.path as osp
import pickle
import tempfile
import types
import warnings
from collections import OrderedDict
from typing import Dict

import _compat_pickle
import torch
from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present

__all__ = [
    'CheckpointError', 'load_state_dict_file', 'check_state_dict',
    'checkpoint_meta', 'warn_if_other_ordering', 'restricted_load',
    'restricted_torch_load', 'RestrictedUnpickler',
    'training_checkpoint_globals', 'allow_training_checkpoints_globally',
    'save_atomic'
]

#: ``torch.load`` as torch defines it (:func:`restricted_torch_load` swaps
#: the module attribute within its block)
_torch_load = torch.load
#: torch >= 2.6: ``weights_only=True`` by default, and ``safe_globals``
#: takes ``(function, 'module.name')`` pairs
NATIVE_ALLOWLIST = tuple(
    int(p) for p in torch.__version__.split('+')[0].split('.')[:2]) >= (2, 6)


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
        return restricted_load(path, map_location='cpu', mmap=mmap)
    except FileNotFoundError:
        raise
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f'{path}: refused to load, it holds Python objects beyond '
            f'tensors, plain containers and mmengine\'s checkpoint types '
            f'(weights_only). Details: {str(e).splitlines()[0]}') from e
    except Exception as e:  # torch raises many types for a damaged file
        raise CheckpointError(
            f'{path}: not a readable PyTorch checkpoint (truncated or not a '
            f'checkpoint): {str(e).splitlines()[0]}') from e


def save_atomic(obj, path: str):
    """``torch.save`` to a temporary file beside ``path``, then rename it:
    ``path`` is either the whole file or absent, never half-written."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=folder, prefix=f'.{osp.basename(path)}.', suffix='.tmp')
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


def check_state_dict(model: torch.nn.Module, state_dict: Dict[str,
                                                              torch.Tensor]):
    """Raise CheckpointError naming every missing, unexpected or mis-shaped
    key of ``state_dict`` for ``model``."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    shapes = sorted(f'{k}: checkpoint {tuple(v.shape)} vs model '
                    f'{tuple(own[k].shape)}' for k, v in state_dict.items()
                    if k in own and own[k].shape != v.shape)
    problems = [
        f'{title} ({len(keys)}): {", ".join(keys)}'
        for title, keys in (('missing keys', missing), ('unexpected keys',
                                                        unexpected),
                            ('mis-shaped keys', shapes)) if keys
    ]
    if problems:
        raise CheckpointError('checkpoint does not fit '
                              f'{type(model).__name__}:\n  ' +
                              '\n  '.join(problems))


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


def training_checkpoint_globals() -> list:
    """The Python objects (besides tensors and plain containers) in a
    checkpoint mmengine's Runner writes while training: the message hub's
    ``HistoryBuffer`` (with its statistics methods), numpy arrays, scalars
    and dtypes (under numpy 1's and numpy 2's module names)."""
    import numpy as np
    from mmengine.logging import HistoryBuffer
    try:  # numpy >= 2 (numpy 1.26 serves numpy.core's module here too)
        from numpy._core import multiarray
    except ImportError:
        from numpy.core import multiarray
    dtypes = [
        type(np.dtype(t))
        for t in (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8,
                  np.float16, np.float32, np.float64)
    ]
    return [
        HistoryBuffer, np.ndarray, np.dtype, *dtypes,
        (_history_buffer_method, 'builtins.getattr')
    ] + [(getattr(multiarray, name), f'{module}.{name}')
         for module in ('numpy.core.multiarray', 'numpy._core.multiarray')
         for name in ('_reconstruct', 'scalar')]


@functools.lru_cache(maxsize=None)
def _allowed_globals() -> Dict[str, object]:
    """'module.name' -> object: what torch's ``weights_only`` unpickler
    allows by default (as of torch 2.6), and
    :func:`training_checkpoint_globals`."""
    import _codecs
    from torch import _weights_only_unpickler
    allowed = dict(_weights_only_unpickler._get_allowed_globals())
    # allowed by torch >= 2.6, not before: the bytes of numpy arrays in a
    # protocol-2 pickle, and sets
    allowed.update({'_codecs.encode': _codecs.encode, 'builtins.set': set})
    for entry in training_checkpoint_globals():
        obj, name = entry if isinstance(
            entry, tuple) else (entry,
                                f'{entry.__module__}.{entry.__qualname__}')
        allowed[name] = obj
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """Python's unpickler resolving only :func:`_allowed_globals`: the
    ``weights_only`` rule where torch's own unpickler cannot be extended
    (torch < 2.6)."""

    def find_class(self, module: str, name: str):
        # protocol 2 writes Python 2's names (``__builtin__``), which
        # Python's own find_class maps
        module, name = _compat_pickle.NAME_MAPPING.get(
            (module, name),
            (_compat_pickle.IMPORT_MAPPING.get(module, module), name))
        obj = _allowed_globals().get(f'{module}.{name}')
        if obj is None:
            raise pickle.UnpicklingError(
                f'Unsupported global: GLOBAL {module}.{name} is not allowed '
                '(weights_only: tensors, plain containers and mmengine\'s '
                'checkpoint types only)')
        return obj


#: the pickle module torch.load unpickles with on torch < 2.6
_restricted_pickle = types.ModuleType(f'{__name__}.restricted_pickle')
_restricted_pickle.Unpickler = RestrictedUnpickler
_restricted_pickle.load = \
    lambda f, **kwargs: RestrictedUnpickler(f, **kwargs).load()
_restricted_pickle.UnpicklingError = pickle.UnpicklingError


def restricted_load(f, map_location=None, **kwargs):
    """``torch.load`` under the load rule (module doc), whatever
    ``weights_only`` or ``pickle_module`` the caller passes."""
    kwargs.pop('weights_only', None)
    kwargs.pop('pickle_module', None)
    if NATIVE_ALLOWLIST:
        # torch's context removes its entries on exit, so it gets only
        # those not allowed process-wide already
        allowed = set(torch.serialization.get_safe_globals())
        added = [g for g in training_checkpoint_globals() if g not in allowed]
        with torch.serialization.safe_globals(added):
            return _torch_load(
                f, map_location=map_location, weights_only=True, **kwargs)
    return _torch_load(
        f,
        map_location=map_location,
        weights_only=False,
        pickle_module=_restricted_pickle,
        **kwargs)


@contextlib.contextmanager
def restricted_torch_load():
    """Within the block, every ``torch.load`` call (mmengine's included) is
    :func:`restricted_load`; the previous ``torch.load`` is put back at the
    end."""
    previous = torch.load
    torch.load = restricted_load
    try:
        yield
    finally:
        torch.load = previous


def allow_training_checkpoints_globally() -> bool:
    """On torch >= 2.6, add :func:`training_checkpoint_globals` to torch's
    process-wide ``weights_only`` allowlist (module doc). Returns whether
    it did."""
    if not NATIVE_ALLOWLIST:
        return False
    torch.serialization.add_safe_globals(training_checkpoint_globals())
    return True
