"""One process of the distributed and cross-job fetch tests
(tests/test_weights_dist.py): loads ``iresnet://$NAME`` through mmengine
with Google Drive replaced by the tests' fake, after making the fault
``$FAULT`` happen on this rank if ``$FAULTY`` lists it.

It writes ``$OUT/rank<R>.json``: ``{"ok": total}`` (the sum of the loaded
weights) or ``{"error": type, "message": text}``, with ``"ended"`` (the
time it ended, ``time.time()``). A faulty rank (``$FAULT`` may be empty: a
fault the test made beforehand, such as a damaged cache) then stays alive
until ``$OUT/release`` exists, so the test sees the other ranks end while it
still runs: they cannot be relying on its death.
Every call of the fake appends the rank to ``$OUT/downloads.txt``;
``$DOWNLOAD_SLEEP`` seconds are spent inside it (a slow download) and
``$OUT/downloading`` is created when it starts.
"""
import errno
import json
import os
import os.path as osp
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

import gdown  # noqa: E402
import torch  # noqa: E402

from tests.test_weights import FakeDrive  # noqa: E402

OUT = os.environ['OUT']
RANK = int(os.environ.get('RANK', '0'))
REAL_DOWNLOAD = gdown.download
#: the longest a faulty rank waits for its release (s)
HOLD_S = 300
FAULTY = RANK in [int(r) for r in os.environ.get('FAULTY', '').split(',') if r]


def count_download():
    with open(osp.join(OUT, 'downloads.txt'), 'a') as f:
        f.write(f'{RANK}\n')
    open(osp.join(OUT, 'downloading'), 'w').close()


def counting_download(*args, **kwargs):
    count_download()
    time.sleep(float(os.environ.get('DOWNLOAD_SLEEP', '0')))
    return FakeDrive(REAL_DOWNLOAD).download(*args, **kwargs)


def refused(*args, **kwargs):
    count_download()
    raise gdown.exceptions.FileURLRetrievalError(
        'Failed to retrieve file url: Too many users have viewed or '
        'downloaded this file recently.')


class FullDisk:
    """torch, as mm_iresnet.checkpoint sees it, on a full disk: saving the
    cache file fails (the fake download still writes its file)."""

    def __getattr__(self, name):
        return getattr(torch, name)

    @staticmethod
    def save(*args, **kwargs):
        raise OSError(errno.ENOSPC, 'No space left on device')


def make_fault(fault):
    import mm_iresnet.checkpoint as checkpoint
    import mm_iresnet.weights as weights
    if fault == 'permission':
        home = os.environ['MM_IRESNET_HOME']
        makedirs = os.makedirs

        def refuse(path, *args, **kwargs):
            if str(path).startswith(home):
                raise PermissionError(errno.EACCES, 'Permission denied', path)
            return makedirs(path, *args, **kwargs)

        os.makedirs = refuse
    elif fault == 'disk_full':
        checkpoint.torch = FullDisk()
    elif fault == 'conversion':

        def convert(*args, **kwargs):
            raise KeyError('layer1.0.conv1.weight')

        weights.converted_checkpoint = convert
    elif fault == 'no_gdown':
        sys.modules['gdown'] = None  # import gdown raises ImportError
    elif fault == 'refused':
        gdown.download = refused
    else:
        raise ValueError(fault)


def main():
    gdown.download = counting_download
    if FAULTY and os.environ.get('FAULT'):
        make_fault(os.environ['FAULT'])
    if 'WORLD_SIZE' in os.environ:
        import torch.distributed as dist
        dist.init_process_group('gloo')
    from mmengine.runner import CheckpointLoader

    import mm_iresnet  # noqa: F401 (the iresnet:// scheme)
    try:
        ckpt = CheckpointLoader.load_checkpoint(
            f'iresnet://{os.environ["NAME"]}')
        total = float(
            sum(v.double().sum() for v in ckpt['state_dict'].values()))
        result = dict(ok=total)
    except Exception as e:
        result = dict(error=type(e).__name__, message=str(e))
    result['ended'] = time.time()
    with open(osp.join(OUT, f'rank{RANK}.json'), 'w') as f:
        json.dump(result, f)
    if FAULTY:  # held, but not past HOLD_S should the test be gone
        deadline = time.monotonic() + HOLD_S
        while not osp.exists(osp.join(OUT, 'release')) and \
                time.monotonic() < deadline:
            time.sleep(0.1)
    sys.exit(0 if 'ok' in result else 3)


if __name__ == '__main__':
    main()
