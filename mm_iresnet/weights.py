"""Official ImageNet weights by name: the ``iresnet://NAME`` checkpoint scheme.

``import mm_iresnet`` registers ``iresnet://`` with mmengine's
``CheckpointLoader``, so an official model name works wherever mmengine loads
weights: ``init_cfg=dict(type='Pretrained', checkpoint='iresnet://iresnet50')``,
mmaction's ``pretrained='iresnet://iresnet50'`` (inflated with
``pretrained2d=True``), ``load_from``, ``tools/test.py``.

The first load of a name downloads the official checkpoint (Google Drive,
through ``gdown``), loads it with ``weights_only=True``, checks it strictly
against the network its name says (every key and shape), converts it for the
ordering it was trained with and caches the *converted* file atomically:
a failed, partial or wrong download never becomes a cache hit. Later loads
read the cache and touch no network. Download, conversion and save run under
a file lock beside the cached name, so independent jobs on one machine
download once (the others wait, then read the cache); a temporary folder
left by a process killed while downloading is removed by the next fetch.

In a distributed run rank 0 downloads first; then, where the cache is
node-local, the local rank 0 of each node whose cache still lacks the file
(``LOCAL_RANK`` as torchrun sets it), then any rank whose cache still lacks
it. Every rank takes part in each turn and learns of a failure on any rank
(an all-gather of the outcomes): all raise one error naming the rank that
failed, the cause and the fix, instead of waiting for the process group to
time out. A cached file is removed only when it is itself bad.

The cache is ``$MM_IRESNET_HOME/checkpoints`` or, with ``MM_IRESNET_HOME``
unset, ``${XDG_CACHE_HOME:-~/.cache}/mm_iresnet/checkpoints``; a file is
named ``<NAME>_imagenet_mm.pth`` (what ``tools/convert_checkpoint.py`` writes,
so a file converted by hand can be put there too). With
``MM_IRESNET_OFFLINE=1`` nothing is downloaded: a name missing from the cache
is an error at once.
"""
import glob
import hashlib
import os
import os.path as osp
import shutil
import socket
import tempfile
from typing import Optional

import torch
from filelock import FileLock
from mmengine.dist import all_gather_object, get_dist_info
from mmengine.logging import print_log
from mmengine.registry import MODELS
from mmengine.runner import CheckpointLoader

from .checkpoint import (CheckpointError, _safe_load, check_state_dict,
                         load_state_dict_file, restricted_load, save_atomic)
from .convert import converted_checkpoint
from .official import (FAMILIES, OFFICIAL_MODELS, SCHEME, OfficialModel,
                       drive_url, official_model)

__all__ = ['WeightsError', 'cache_dir', 'cached_path', 'released_model',
           'fetch', 'load_official', 'load_from_iresnet', 'manual_steps']

#: environment variable naming the cache's home
HOME_ENV = 'MM_IRESNET_HOME'
#: environment variable that forbids downloads (1/true/yes): a name missing
#: from the cache is an error at once, instead of a wait for the network
OFFLINE_ENV = 'MM_IRESNET_OFFLINE'

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


def _convert_download(model: OfficialModel, raw: str) -> dict:
    """The converted checkpoint of a downloaded official file, checked
    against the network the name says."""
    out, _ = converted_checkpoint(load_state_dict_file(raw), model.family,
                                  keep_classifier=True)
    check_state_dict(_named_backbone(model), out['state_dict'])
    out['meta'].update(official_name=model.name, url=drive_url(model),
                       download_sha256=_sha256(raw))
    return out


def _offline_message(model: OfficialModel, path: str, reason: str) -> str:
    return (f'{SCHEME}{model.name}: could not download {drive_url(model)} '
            f'into the cache {path} ({reason}). Without network access (or '
            'when Google Drive refuses: quota exceeded, HTTP error), fetch '
            'it on a machine with internet with `python '
            f'tools/download_weights.py {model.name}` and copy the cache '
            f'folder, or do it by hand:\n{manual_steps(model)}')


def _downloading(model: OfficialModel, path: str):
    """Download, check, convert and cache ``model`` at ``path``, unless
    another process (another job on this machine) does so first: the work
    runs under a file lock beside ``path``; whoever gets the lock after a
    download finds the cache filled and returns."""
    url = drive_url(model)
    if os.environ.get(OFFLINE_ENV, '').lower() in ('1', 'true', 'yes'):
        raise WeightsError(_offline_message(
            model, path, f'{OFFLINE_ENV} is set: no download is tried'))
    import gdown
    folder = osp.dirname(path)
    os.makedirs(folder, exist_ok=True)
    with FileLock(f'{path}.lock'):
        if osp.isfile(path):
            return
        # temporary folders are made under the lock only: any left now
        # belongs to a process that died while downloading
        for dead in glob.glob(osp.join(folder, f'.{model.name}.download.*')):
            shutil.rmtree(dead, ignore_errors=True)
        work = tempfile.mkdtemp(dir=folder, prefix=f'.{model.name}.download.')
        try:
            _download(model, url, osp.join(work, f'{model.name}.pth'), path,
                      gdown)
        finally:
            shutil.rmtree(work, ignore_errors=True)


def _download(model: OfficialModel, url: str, raw: str, path: str, gdown):
    print_log(f'{SCHEME}{model.name}: downloading {url}', logger='current')
    try:
        result = gdown.download(url=url, output=raw, quiet=False)
    except Exception as e:  # gdown and requests raise many types
        result, reason = None, f'{type(e).__name__}: {e}'
    else:
        reason = 'the download gave no file'
    if result is None or not osp.isfile(raw):
        raise WeightsError(_offline_message(model, path, reason))
    try:
        out = _convert_download(model, raw)
    except Exception as e:  # a damaged file makes the converter raise
        reason = str(e) if isinstance(e, CheckpointError) else \
            f'{type(e).__name__}: {e}'
        raise WeightsError(
            f'{SCHEME}{model.name}: the file downloaded from {url} is not '
            f'the official {model.name} checkpoint: {reason}\nIt was '
            'removed and nothing was cached. Try again later, or fetch and '
            f'convert it by hand:\n{manual_steps(model)}') from e
    save_atomic(out, path)


def _failure(model: OfficialModel, path: str, error: Exception) -> str:
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


def fetch(name: str) -> str:
    """The cached path of official model ``name``, downloading it first if
    needed. In a distributed run rank 0 downloads first, then the local
    rank 0 of each node whose cache still lacks the file, then any rank
    whose cache still lacks it; every rank waits for each turn and learns of
    a failure on any rank, so all raise the same error together."""
    return _fetch(released_model(name))


def _fetch(model: OfficialModel) -> str:
    path = cached_path(model.name)
    rank, world_size = get_dist_info()
    if world_size == 1:
        if not osp.isfile(path):
            try:
                _downloading(model, path)
            except WeightsError:
                raise
            except Exception as e:
                raise WeightsError(_failure(model, path, e)) from e
        return path
    local_rank = int(os.environ.get('LOCAL_RANK', rank))
    for turn in (rank == 0, local_rank == 0, True):
        failure = None
        if turn and not osp.isfile(path):
            try:
                _downloading(model, path)
            except Exception as e:
                failure = (socket.gethostname(), _failure(model, path, e))
        failures = [(r, f) for r, f in enumerate(all_gather_object(failure))
                    if f is not None]
        if failures:
            raise WeightsError(_distributed_failure(model, rank, failures))
    return path


def _distributed_failure(model: OfficialModel, rank: int, failures) -> str:
    first, (host, message) = failures[0]
    others = [str(r) for r, _ in failures[1:]]
    return (f'{SCHEME}{model.name}: rank {first} (host {host}) could not '
            f'fetch the weights, so every rank stops (this is rank {rank})'
            + (f'; ranks {", ".join(others)} failed too' if others else '')
            + f'.\n{message}')


def _discard(path: str):
    try:
        os.remove(path)
    except FileNotFoundError:  # another process removed it first
        pass


def _read_cached(model: OfficialModel, path: str) -> dict:
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


def load_official(name: str, map_location=None) -> dict:
    """The converted checkpoint of official model ``name`` (``state_dict``,
    ``meta``, ``classifier``), from the cache or fetched first. A bad cached
    file is removed (the next load downloads again); any other error leaves
    it in place and says so."""
    model = released_model(name)
    path = _fetch(model)
    try:
        checkpoint = _read_cached(model, path)
    except CheckpointError as e:
        _discard(path)
        raise WeightsError(
            f'{SCHEME}{name}: the cached file {path} is not the converted '
            f'{name} checkpoint ({str(e).splitlines()[0]}); it was removed, '
            'so the next load downloads it again') from e
    except Exception as e:
        raise WeightsError(
            f'{SCHEME}{name}: could not read the cached file {path} '
            f'({type(e).__name__}: {e}); the file was left in place') from e
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
        print_log(f'{SCHEME}{name}: {path} (sha256 {_sha256(path)})',
                  logger='current')
    return checkpoint


@CheckpointLoader.register_scheme(prefixes=SCHEME)
def load_from_iresnet(filename: str, map_location: Optional[str] = None):
    """mmengine's loader for ``iresnet://NAME``."""
    return load_official(filename[len(SCHEME):], map_location)
