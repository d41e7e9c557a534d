"""Official ImageNet weights by name: the ``iresnet://NAME`` checkpoint scheme.

``import mm_iresnet`` registers ``iresnet://`` with mmengine's
``CheckpointLoader``, so an official model name works wherever mmengine loads
weights: ``init_cfg=dict(type='Pretrained',
checkpoint='iresnet://iresnet50')``, mmaction's
``pretrained='iresnet://iresnet50'`` (inflated with ``pretrained2d=True``),
``load_from``, ``tools/test.py``.

The first load of a name downloads the official checkpoint (Google Drive,
through ``gdown``), loads it with ``weights_only=True``, checks it strictly
against the network its name says (every key and shape), converts it for the
ordering it was trained with and caches the *converted* file atomically:
a failed, partial or wrong download never becomes a cache hit. Later loads
read the cache and touch no network. Download, conversion and save run under
a file lock beside the cached name, so independent jobs on one machine
download once (the others wait, then read the cache); a temporary folder
left by a process killed while downloading is removed by the next fetch.
The wait for the lock is bounded (``$MM_IRESNET_LOCK_TIMEOUT`` seconds,
3600 by default); its end is a WeightsError naming the lock file and the
process holding it (written beside the lock in ``<lock>.holder``).

The fetch is one collective routine in turns: rank 0; then the local rank 0
of each node (``LOCAL_RANK`` as torchrun sets it: where the cache is
node-local, one download per node); then every rank. A single process is
the same routine with a world of one. In its turn a rank reads its cached
file and checks it as :func:`load_official` would (a checkpoint converted
from the name's family, every key and shape of the named network); a rank
whose file is missing or damaged downloads it then, a damaged file removed
first (with a warning naming it and what is wrong). A rank reads its file
once: :func:`load_official` returns the checkpoint the turn checked. Each
turn ends in an all-gather of the outcomes, so a failure on any rank (a
damaged file that cannot be downloaded again included) makes every rank
raise one error naming the rank that failed, the cause and the fix, instead
of some ranks returning into the next collective while others wait for the
process group to time out. A cached file is removed only when it is itself
bad.

The cache is ``$MM_IRESNET_HOME/checkpoints`` or, with ``MM_IRESNET_HOME``
unset, ``${XDG_CACHE_HOME:-~/.cache}/mm_iresnet/checkpoints``; a file is
named ``<NAME>_imagenet_mm.pth`` (what ``tools/convert_checkpoint.py`` writes,
so a file converted by hand can be put there too). With
``MM_IRESNET_OFFLINE=1`` nothing is downloaded: a name missing from the cache
is an error at once.
"""
import contextlib
import glob
import hashlib
import logging
import os
import os.path as osp
import shutil
import socket
import tempfile
import time
from typing import NamedTuple, Optional, Tuple

import torch
from filelock import FileLock, Timeout
from mmengine.dist import all_gather_object, get_dist_info
from mmengine.logging import print_log
from mmengine.registry import MODELS
from mmengine.runner import CheckpointLoader

from .checkpoint import (CheckpointError, _safe_load, check_state_dict,
                         load_state_dict_file, restricted_load, save_atomic)
from .convert import converted_checkpoint
from .official import (FAMILIES, OFFICIAL_MODELS, SCHEME, OfficialModel,
                       drive_url, official_model)

__all__ = [
    'WeightsError', 'cache_dir', 'cached_path', 'released_model', 'fetch',
    'load_official', 'load_from_iresnet', 'manual_steps'
]

#: environment variable naming the cache's home
HOME_ENV = 'MM_IRESNET_HOME'
#: environment variable that forbids downloads (1/true/yes): a name missing
#: from the cache is an error at once, instead of a wait for the network
OFFLINE_ENV = 'MM_IRESNET_OFFLINE'
#: environment variable: the seconds a fetch waits for the lock that another
#: process holds while it fetches the same name (then a WeightsError)
LOCK_TIMEOUT_ENV = 'MM_IRESNET_LOCK_TIMEOUT'
#: the wait without it: time for another job's download of a large file
DEFAULT_LOCK_TIMEOUT_S = 3600.0

# names whose cached path and sha256 were printed in this process
_announced = set()


class WeightsError(CheckpointError):
    """Official weights that cannot be had: an unknown name, no released
    checkpoint, a failed download or a file that is not the checkpoint."""


def cache_dir() -> str:
    """Where converted official checkpoints are cached."""
    home = os.environ.get(HOME_ENV) or osp.join(
        os.environ.get('XDG_CACHE_HOME') or osp.join('~', '.cache'),
        'mm_iresnet')
    return osp.join(osp.expanduser(home), 'checkpoints')


def cached_path(name: str) -> str:
    return osp.join(cache_dir(), f'{name}_imagenet_mm.pth')


def released_model(name: str) -> OfficialModel:
    """The official model ``name``, which must have a released checkpoint."""
    try:
        model = official_model(name)
    except KeyError as e:
        raise WeightsError(f'{SCHEME}{name}: {e.args[0]}') from None
    if model.drive_id is None:
        released = [n for n, m in OFFICIAL_MODELS.items() if m.drive_id]
        raise WeightsError(
            f'{SCHEME}{name}: no official checkpoint exists for {name} (the '
            'official code lists it as "Trained model not available yet"). '
            f'Released: {", ".join(released)}')
    return model


def manual_steps(model: OfficialModel) -> str:
    """The two commands that do by hand what a download does."""
    return (f'  1. download: gdown "{drive_url(model)}" -O {model.name}.pth\n'
            f'     (or in a browser: https://drive.google.com/open?id='
            f'{model.drive_id})\n'
            f'  2. convert:  python tools/convert_checkpoint.py '
            f'{model.name}.pth {cached_path(model.name)} '
            f'--src {model.family} --keep-classifier')


def _named_backbone(model: OfficialModel):
    """The network the name says, on the meta device (keys and shapes)."""
    with torch.device('meta'):
        return MODELS.get(FAMILIES[model.family])(depth=model.depth)


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def _offline_message(model: OfficialModel, path: str, reason: str) -> str:
    return (f'{SCHEME}{model.name}: could not download {drive_url(model)} '
            f'into the cache {path} ({reason}). Without network access (or '
            'when Google Drive refuses: quota exceeded, HTTP error), fetch '
            'it on a machine with internet with `python '
            f'tools/download_weights.py {model.name}` and copy the cache '
            f'folder, or do it by hand:\n{manual_steps(model)}')


def _failure_message(model: OfficialModel, path: str, error: Exception) -> str:
    """What went wrong fetching ``model`` and how to fix it."""
    if isinstance(error, WeightsError):
        return str(error)
    cause = f'{type(error).__name__}: {error}'
    if isinstance(error, ImportError):
        fix = ('install it (pip install "gdown>=5.1") or fill the cache '
               'by hand')
        what = 'gdown, which downloads from Google Drive, cannot be imported'
    elif isinstance(error, OSError):
        fix = (f'make {osp.dirname(path)} writable with room for the file, '
               f'point {HOME_ENV} at a folder that is, or fill the cache by '
               'hand')
        what = f'the cache {path} cannot be written'
    else:
        fix = 'fill the cache by hand'
        what = 'the download failed'
    return (f'{SCHEME}{model.name}: {what} ({cause}); nothing was cached. '
            f'To fix it, {fix}:\n{manual_steps(model)}')


def _damaged_file_message(model: OfficialModel, path: str, damage: str) -> str:
    return (f'{SCHEME}{model.name}: the cached file {path} is not the '
            f'converted {model.name} checkpoint ({damage}); it was removed')


def _every_rank_stops_message(model: OfficialModel, rank: int,
                              failures) -> str:
    """The error every rank raises: ``failures`` are the (rank, (host,
    message)) of the ranks that failed."""
    first, (host, message) = failures[0]
    others = [str(r) for r, _ in failures[1:]]
    return (f'{SCHEME}{model.name}: rank {first} (host {host}) could not '
            f'fetch the weights, so every rank stops (this is rank {rank})' +
            (f'; ranks {", ".join(others)} failed too' if others else '') +
            f'.\n{message}')


def _lock_timeout_message(model: OfficialModel, lock_path: str,
                          timeout: float) -> str:
    holder = f'{lock_path}.holder'
    try:
        with open(holder) as f:
            who = f'it is held by {f.read().strip()}'
    except OSError:
        who = f'the process holding it is not recorded (no {holder})'
    return (f'{SCHEME}{model.name}: waited {timeout:g} s for the lock '
            f'{lock_path}, which a process fetching the same weights holds: '
            f'{who}. If that process no longer runs, or hangs, the lock is '
            f'stale: stop the process, remove {lock_path} and try again. To '
            f'wait longer, set {LOCK_TIMEOUT_ENV} (seconds, default '
            f'{DEFAULT_LOCK_TIMEOUT_S:g}).')


def _offline() -> bool:
    return os.environ.get(OFFLINE_ENV, '').lower() in ('1', 'true', 'yes')


def _lock_timeout_s() -> float:
    """The seconds a fetch waits for another process's lock."""
    value = os.environ.get(LOCK_TIMEOUT_ENV, '').strip()
    if not value:
        return DEFAULT_LOCK_TIMEOUT_S
    try:
        seconds = float(value)
    except ValueError:
        seconds = float('nan')
    if not seconds > 0:
        raise WeightsError(
            f'{LOCK_TIMEOUT_ENV}={value!r}: the seconds to wait for the lock '
            'of another process fetching the same weights must be a '
            f'positive number (default {DEFAULT_LOCK_TIMEOUT_S:g})')
    return seconds


@contextlib.contextmanager
def _cache_lock(model: OfficialModel, path: str):
    """The file lock beside ``path``, waited for at most
    :func:`_lock_timeout_s` (then a WeightsError naming the lock and its
    holder); while it is held, ``<lock>.holder`` names this process."""
    lock_path = f'{path}.lock'
    timeout = _lock_timeout_s()
    lock = FileLock(lock_path, timeout=timeout)
    try:
        lock.acquire()
    except Timeout as e:
        raise WeightsError(_lock_timeout_message(model, lock_path,
                                                 timeout)) from e
    holder = f'{lock_path}.holder'
    try:
        with open(holder, 'w') as f:
            f.write(f'process {os.getpid()} on host {socket.gethostname()} '
                    f'(since {time.strftime("%Y-%m-%d %H:%M:%S %z")})\n')
        yield
    finally:
        _discard(holder)
        lock.release()


def _file_version(path: str) -> Optional[tuple]:
    """Which file ``path`` is now (inode, size, mtime); None: none."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


class CacheState(NamedTuple):
    """What a rank found at a cached path: the checkpoint it validated, or
    why the file there is not the checkpoint (``damage``); ``version`` is
    the file it read (:func:`_file_version`), None where there was none."""
    checkpoint: Optional[dict] = None
    damage: Optional[str] = None
    version: Optional[tuple] = None


def _validated_checkpoint(model: OfficialModel, path: str) -> dict:
    """The cached checkpoint of ``model`` on the CPU; CheckpointError when
    the file itself is bad (not a checkpoint, wrong keys, wrong source)."""
    checkpoint = _safe_load(path)
    if not isinstance(checkpoint, dict) or not isinstance(
            checkpoint.get('state_dict'), dict):
        raise CheckpointError('holds no state_dict')
    src = checkpoint.get('meta', {}).get('src')
    if src != model.family:
        raise CheckpointError(f'it was converted from {src!r}, not '
                              f'{model.family!r}')
    check_state_dict(_named_backbone(model), checkpoint['state_dict'])
    return checkpoint


def _inspect_cache(model: OfficialModel, path: str) -> CacheState:
    """What ``path`` holds, read once. A file that cannot be read at all
    (no permission) is a WeightsError, and the file stays."""
    version = _file_version(path)
    if version is None:
        return CacheState()
    try:
        return CacheState(_validated_checkpoint(model, path), None, version)
    except CheckpointError as e:  # its message may begin with the path
        damage = str(e).splitlines()[0]
        if damage.startswith(f'{path}: '):
            damage = damage[len(path) + 2:]
        return CacheState(None, damage, version)
    except FileNotFoundError:  # another process removed it meanwhile
        return CacheState()
    except Exception as e:
        raise WeightsError(
            f'{SCHEME}{model.name}: could not read the cached file {path} '
            f'({type(e).__name__}: {e}); the file was left in place') from e


def _remove_damaged(model: OfficialModel, path: str, state: CacheState):
    """Before a download: the damaged file removed, with a warning."""
    if state.damage is not None:
        print_log(
            f'{_damaged_file_message(model, path, state.damage)}, '
            'to be downloaded again',
            logger='current',
            level=logging.WARNING)
        _discard(path)


def _drive_download(model: OfficialModel, raw: str, path: str, gdown):
    """The official file of ``model`` from Google Drive into ``raw``."""
    url = drive_url(model)
    print_log(f'{SCHEME}{model.name}: downloading {url}', logger='current')
    try:
        result = gdown.download(url=url, output=raw, quiet=False)
    except Exception as e:  # gdown and requests raise many types
        result, reason = None, f'{type(e).__name__}: {e}'
    else:
        reason = 'the download gave no file'
    if result is None or not osp.isfile(raw):
        raise WeightsError(_offline_message(model, path, reason))


def _checked_conversion(model: OfficialModel, raw: str) -> dict:
    """The converted checkpoint of the downloaded file ``raw``, checked
    against the network the name says."""
    try:
        out, _ = converted_checkpoint(
            load_state_dict_file(raw), model.family, keep_classifier=True)
        check_state_dict(_named_backbone(model), out['state_dict'])
    except Exception as e:  # a damaged file makes the converter raise
        reason = str(e) if isinstance(e, CheckpointError) else \
            f'{type(e).__name__}: {e}'
        raise WeightsError(
            f'{SCHEME}{model.name}: the file downloaded from '
            f'{drive_url(model)} is not the official {model.name} '
            f'checkpoint: {reason}\nIt was removed and nothing was cached. '
            'Try again later, or fetch and convert it by hand:\n'
            f'{manual_steps(model)}') from e
    out['meta'].update(
        official_name=model.name,
        url=drive_url(model),
        download_sha256=_sha256(raw))
    return out


def _download_and_convert(model: OfficialModel, path: str, gdown) -> dict:
    """Under the lock: download into a temporary folder beside ``path``,
    convert, check and cache atomically; the converted checkpoint."""
    folder = osp.dirname(path)
    # temporary folders are made under the lock only: any left now
    # belongs to a process that died while downloading
    for dead in glob.glob(osp.join(folder, f'.{model.name}.download.*')):
        shutil.rmtree(dead, ignore_errors=True)
    work = tempfile.mkdtemp(dir=folder, prefix=f'.{model.name}.download.')
    try:
        raw = osp.join(work, f'{model.name}.pth')
        _drive_download(model, raw, path, gdown)
        checkpoint = _checked_conversion(model, raw)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    save_atomic(checkpoint, path)
    return checkpoint


def _download_locked(model: OfficialModel, path: str,
                     state: CacheState) -> dict:
    """The checkpoint of ``model`` at ``path``, which held none (``state``):
    under the file lock, the one another process (another job) cached while
    this one waited, or else, a damaged file removed, a download."""
    if _offline():  # the error names a damaged file (_cached_or_downloaded)
        if state.damage is not None:
            _discard(path)
        raise WeightsError(
            _offline_message(model, path,
                             f'{OFFLINE_ENV} is set: no download is tried'))
    import gdown
    os.makedirs(osp.dirname(path), exist_ok=True)
    with _cache_lock(model, path):
        if _file_version(path) not in (None, state.version):
            state = _inspect_cache(model, path)
            if state.checkpoint is not None:
                return state.checkpoint
        _remove_damaged(model, path, state)
        return _download_and_convert(model, path, gdown)


def _cached_or_downloaded(model: OfficialModel, path: str) -> dict:
    """A rank's turn: the checkpoint its cache holds, validated, or else
    downloaded into it. Every failure is a WeightsError saying what to do
    (and naming the damaged file it removed, if any)."""
    state = CacheState()
    try:
        state = _inspect_cache(model, path)
        if state.checkpoint is not None:
            return state.checkpoint
        return _download_locked(model, path, state)
    except Exception as e:
        message = _failure_message(model, path, e)
        if state.damage is not None:
            message = (f'{_damaged_file_message(model, path, state.damage)}'
                       f', and fetching it again failed:\n{message}')
        elif isinstance(e, WeightsError):
            raise
        raise WeightsError(message) from e


def _turns() -> Tuple[bool, bool, bool]:
    """Whether this rank takes each turn: rank 0; the local rank 0 of each
    node (``LOCAL_RANK`` as torchrun sets it); every rank."""
    rank, _ = get_dist_info()
    local_rank = int(os.environ.get('LOCAL_RANK', rank))
    return rank == 0, local_rank == 0, True


def _raise_if_any_rank_failed(model: OfficialModel, path: str,
                              error: Optional[Exception]):
    """Every rank's outcome of a turn, gathered: where any rank failed,
    every rank raises (the one process of a world of one: its own error)."""
    own = None if error is None else (socket.gethostname(),
                                      _failure_message(model, path, error))
    failures = [(r, failure)
                for r, failure in enumerate(all_gather_object(own))
                if failure is not None]
    if not failures:
        return
    rank, world_size = get_dist_info()
    if world_size == 1:
        raise error  # the WeightsError of _cached_or_downloaded
    raise WeightsError(_every_rank_stops_message(model, rank,
                                                 failures)) from error


def _collective_fetch(model: OfficialModel) -> dict:
    """The converted checkpoint of ``model``, validated, on every rank (the
    turns of the module doc; one process is a world of one). Call it on
    every rank: each turn ends in an all-gather of the outcomes."""
    path = cached_path(model.name)
    checkpoint = None
    for my_turn in _turns():
        error = None
        if my_turn and checkpoint is None:
            try:
                checkpoint = _cached_or_downloaded(model, path)
            except Exception as e:  # every rank must learn of it
                error = e
        _raise_if_any_rank_failed(model, path, error)
    return checkpoint


def fetch(name: str) -> str:
    """The cached path of official model ``name``, validated, downloaded
    first if needed. In a distributed run call it on every rank: the ranks
    take turns (module doc) and a failure on any rank makes all raise the
    same error together."""
    _collective_fetch(released_model(name))
    return cached_path(name)


def _discard(path: str):
    try:
        os.remove(path)
    except FileNotFoundError:  # another process removed it first
        pass


def load_official(name: str, map_location=None) -> dict:
    """The converted checkpoint of official model ``name`` (``state_dict``,
    ``meta``, ``classifier``): the one the fetch validated in the cache or
    downloaded (:func:`fetch`), not read again. A damaged cached file is
    removed and downloaded again; any other error leaves it in place and
    says so."""
    checkpoint = _collective_fetch(released_model(name))
    path = cached_path(name)
    if map_location not in (None, 'cpu'):
        try:
            checkpoint = restricted_load(path, map_location=map_location)
        except Exception as e:
            raise WeightsError(
                f'{SCHEME}{name}: the cached file {path} is good and was '
                f'kept, but loading it with map_location={map_location!r} '
                f'failed ({type(e).__name__}: {e})') from e
    if name not in _announced:
        _announced.add(name)
        print_log(
            f'{SCHEME}{name}: {path} (sha256 {_sha256(path)})',
            logger='current')
    return checkpoint


@CheckpointLoader.register_scheme(prefixes=SCHEME)
def load_from_iresnet(filename: str, map_location: Optional[str] = None):
    """mmengine's loader for ``iresnet://NAME``."""
    return load_official(filename[len(SCHEME):], map_location)
