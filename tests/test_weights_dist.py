"""Fetching ``iresnet://NAME`` when things go wrong in a distributed run,
with several nodes, and across independent jobs on one machine.

Each test starts real processes (tests/fetch_worker.py: gloo on the CPU,
Google Drive replaced by the counting fake of tests/test_weights.py). A
watchdog fails a test when any rank is still waiting after 60 s, and every
process a test starts is killed at its end. A rank made to fail stays alive
after its fetch until the test releases it, so the other ranks are seen to
stop without relying on its death.
"""
import json
import os
import os.path as osp
import signal
import socket
import sys
import time

import pytest
import torch

from mm_iresnet.weights import WeightsError, cached_path, fetch, load_official
from .helpers import free_port, kill_group, nonempty, popen_group
from .test_weights import cache_listing

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
WATCHDOG_S = 60

pytestmark = pytest.mark.slow


def start(out, rank=None, world=None, local=None, home=None, **env):
    """A worker process; ``local`` = (LOCAL_RANK, LOCAL_WORLD_SIZE). The
    worker replaces the download, so MM_IRESNET_OFFLINE is lifted unless
    ``env`` sets it."""
    inherited = dict(os.environ)
    inherited.pop('MM_IRESNET_OFFLINE')
    env = dict(
        inherited,
        OUT=str(out),
        NAME='iresnet50',
        MM_IRESNET_HOME=str(home),
        **env)
    if world is not None:
        env.update(RANK=str(rank), WORLD_SIZE=str(world))
    if local is not None:
        env.update(LOCAL_RANK=str(local[0]), LOCAL_WORLD_SIZE=str(local[1]))
    with open(
            osp.join(out, f'log{rank if rank is not None else ""}.txt'),
            'a') as log:
        return popen_group([sys.executable, '-m', 'tests.fetch_worker'],
                           cwd=ROOT,
                           env=env,
                           stdout=log,
                           stderr=log)


def run_ranks(out, homes, faulty=(), fault='', **env):
    """Ranks ``0..len(homes)-1`` (``homes[r]``: rank r's cache home; the
    ranks that share one are a node, in order), until every rank that is not
    ``faulty`` has ended; then the faulty ones are released. Returns each
    rank's result."""
    nodes = list(dict.fromkeys(homes))
    per_node = len(homes) // len(nodes)
    env = dict(
        env,
        MASTER_ADDR='127.0.0.1',
        MASTER_PORT=str(free_port()),
        FAULTY=','.join(map(str, faulty)),
        FAULT=fault)
    procs = [
        start(out, r, len(homes), (r % per_node, per_node), homes[r], **env)
        for r in range(len(homes))
    ]
    results = {r: osp.join(out, f'rank{r}.json') for r in range(len(homes))}
    try:
        deadline = time.monotonic() + WATCHDOG_S
        while not all(p.poll() is not None or
                      (r in faulty and osp.exists(results[r]))
                      for r, p in enumerate(procs)):
            waiting = [
                r for r, p in enumerate(procs)
                if p.poll() is None and r not in faulty
            ]
            assert time.monotonic() < deadline, (
                f'ranks {waiting} still waiting after {WATCHDOG_S} s:\n' +
                logs(out, len(homes)))
            time.sleep(0.2)
        for r in faulty:  # still alive: the others did not need its death
            assert procs[r].poll() is None, logs(out, len(homes))
        open(osp.join(out, 'release'), 'w').close()
        for p in procs:
            p.wait(timeout=30)
    finally:
        for p in procs:
            kill_group(p)
    return [json.load(open(results[r])) for r in range(len(homes))]


def logs(out, n):
    return '\n'.join(
        open(osp.join(out, f'log{r}.txt')).read()[-1500:] for r in range(n))


def downloads(out):
    path = osp.join(out, 'downloads.txt')
    return open(path).read().split() if osp.exists(path) else []


@pytest.mark.parametrize('fault, cause, fix', [
    ('permission', 'PermissionError', 'writable'),
    ('disk_full', 'No space left on device', 'writable with room'),
    ('conversion', "KeyError: 'layer1.0.conv1.weight'", 'convert_checkpoint'),
    ('no_gdown',
     'gdown, which downloads from Google Drive, cannot be imported',
     'pip install "gdown>=5.1"'),
    ('refused', 'Too many users have viewed', 'convert_checkpoint'),
])
def test_a_failure_on_the_downloading_rank_stops_every_rank(
        tmp_path, fault, cause, fix):
    """Rank 0 (the one that downloads) fails; rank 1 raises the same error
    while rank 0 is still alive: which rank failed, the cause, the fix."""
    results = run_ranks(
        tmp_path, [tmp_path / 'home'] * 2, faulty=[0], fault=fault)
    assert len(results) == 2
    for rank, result in enumerate(results):
        assert result.get('error') == 'WeightsError', result
        message = result['message']
        assert 'rank 0 (host' in message and f'this is rank {rank}' in \
            message, message
        assert cause in message and fix in message, message
    assert not osp.exists(cached_path_in(tmp_path / 'home'))


def cached_path_in(home):
    return osp.join(home, 'checkpoints', 'iresnet50_imagenet_mm.pth')


def test_one_download_per_node_with_node_local_caches(tmp_path):
    """Four ranks as two nodes of two, each node its own cache: the local
    rank 0 of each node downloads (ranks 0 and 2), the others read their
    node's cache; all get the same weights."""
    homes = [tmp_path / 'node0'] * 2 + [tmp_path / 'node1'] * 2
    results = run_ranks(tmp_path, homes)
    assert len(results) == 4
    assert sorted(downloads(tmp_path)) == ['0', '2']
    assert all('ok' in r for r in nonempty(results)), results
    assert len({r['ok'] for r in results}) == 1
    for home in set(homes):
        assert osp.isfile(cached_path_in(home))


def test_a_failure_on_another_node_reaches_every_rank(tmp_path):
    """The second node's download is refused: all four ranks raise naming
    rank 2 while rank 2 is still alive."""
    homes = [tmp_path / 'node0'] * 2 + [tmp_path / 'node1'] * 2
    results = run_ranks(tmp_path, homes, faulty=[2], fault='refused')
    assert len(results) == 4
    for rank, result in enumerate(results):
        assert result.get('error') == 'WeightsError', result
        assert 'rank 2 (host' in result['message'], result['message']
        assert 'Too many users' in result['message']
    assert sorted(downloads(tmp_path)) == ['0', '2']
    assert not osp.exists(cached_path_in(tmp_path / 'node1'))


def test_two_jobs_on_one_machine_download_once(tmp_path):
    """Two independent processes (not one distributed job) fetch the same
    name at once: one downloads (a slow download) holding the lock beside
    the cache file, the other is seen waiting for that lock meanwhile, then
    reads the cache. The wait is seen by a probe in both processes (a
    sitecustomize): before each lock acquire, one attempt that does not
    wait, whose refusal, the lock being held, it records in $OUT."""
    probe = tmp_path / 'probe'
    probe.mkdir()
    (probe / 'sitecustomize.py').write_text(
        'import os\n'
        'import filelock\n'
        'acquire = filelock.BaseFileLock.acquire\n'
        'def probed(self, *args, **kwargs):\n'
        '    try:\n'
        '        return acquire(self, timeout=0)\n'
        '    except filelock.Timeout:\n'
        '        with open(os.path.join(os.environ["OUT"], "held.txt"),\n'
        '                  "a") as f:\n'
        '            f.write(self.lock_file + "\\n")\n'
        '    return acquire(self, *args, **kwargs)\n'
        'filelock.BaseFileLock.acquire = probed\n')
    pythonpath = os.pathsep.join(
        filter(None, [str(probe), os.environ.get('PYTHONPATH')]))
    home = tmp_path / 'home'
    outs = [tmp_path / 'a', tmp_path / 'b']
    procs = []
    try:
        for out in outs:
            os.makedirs(out)
            # 10 s: time for the other to reach the lock on a loaded machine
            procs.append(
                start(
                    out, home=home, DOWNLOAD_SLEEP='10',
                    PYTHONPATH=pythonpath))
        for p in procs:
            assert p.wait(timeout=WATCHDOG_S * 2) == 0, logs_of(outs)
    finally:
        for p in procs:
            kill_group(p)
    results = [json.load(open(out / 'rank0.json')) for out in outs]
    assert len(results) == 2 and all('ok' in r
                                     for r in nonempty(results)), results
    assert len({r['ok'] for r in results}) == 1
    assert len(downloads(outs[0]) + downloads(outs[1])) == 1

    def held(out):  # the locks under home this process found held
        path = out / 'held.txt'
        return [
            line for line in path.read_text().split()
            if line.startswith(str(home))
        ] if path.exists() else []

    downloader = 0 if downloads(outs[0]) else 1
    # the jobs overlapped: the one that did not download found the lock
    # held (by the other, the only other process using it) and waited
    assert held(outs[1 - downloader]), (downloader, logs_of(outs))


def logs_of(outs):
    return '\n'.join(open(out / 'log.txt').read()[-1500:] for out in outs)


def test_a_download_killed_midway_is_cleaned_by_the_next_fetch(
        tmp_path, monkeypatch):
    """SIGKILL during the download leaves its temporary folder; the next
    fetch (here in this process) succeeds and leaves only the cache file."""
    import gdown

    from .test_weights import FakeDrive
    home = tmp_path / 'home'
    out = tmp_path / 'killed'
    os.makedirs(out)
    proc = start(out, home=home, DOWNLOAD_SLEEP='600')
    try:
        deadline = time.monotonic() + WATCHDOG_S
        while not osp.exists(out / 'downloading'):
            assert proc.poll() is None and time.monotonic() < deadline, \
                logs_of([out])
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        kill_group(proc)
    left = [n for n in cache_listing(home) if '.download.' in n]
    assert left, cache_listing(home)  # the dead download's folder
    monkeypatch.setenv('MM_IRESNET_HOME', str(home))
    monkeypatch.delenv('MM_IRESNET_OFFLINE')
    fake = FakeDrive()
    monkeypatch.setattr(gdown, 'download', fake.download)
    assert load_official('iresnet50')['meta']['official_name'] == 'iresnet50'
    assert len(fake.calls) == 1
    assert cache_listing(home) == [
        'checkpoints', 'checkpoints/iresnet50_imagenet_mm.pth'
    ]
    assert osp.isfile(cached_path('iresnet50'))


def node_caches_one_damaged(tmp_path, monkeypatch):
    """Two nodes' cache homes holding a copy of the converted iresnet50,
    the second node's truncated (a copy cut short): (homes of four ranks as
    two nodes, the good file, the damaged file)."""
    import gdown

    from .test_weights import FakeDrive
    good = cached_path_in(tmp_path / 'node0')
    damaged = cached_path_in(tmp_path / 'node1')
    with monkeypatch.context() as m:
        m.setenv('MM_IRESNET_HOME', str(tmp_path / 'node0'))
        m.delenv('MM_IRESNET_OFFLINE')
        m.setattr(gdown, 'download', FakeDrive().download)
        assert fetch('iresnet50') == good
    os.makedirs(osp.dirname(damaged))
    with open(good, 'rb') as f:
        data = f.read()
    with open(damaged, 'wb') as f:
        f.write(data[:len(data) // 2])
    homes = [tmp_path / 'node0'] * 2 + [tmp_path / 'node1'] * 2
    return homes, good, damaged


def ended_together(results, within_s=10):
    ends = [r['ended'] for r in results]
    return max(ends) - min(ends) < within_s


def test_a_damaged_copy_on_one_node_is_downloaded_again_there(
        tmp_path, monkeypatch):
    """Node-local caches, the second node's copy truncated: its local rank
    0 (rank 2, kept alive after its fetch) finds it damaged and downloads
    it again in its turn; all four ranks return the same weights within
    seconds of each other."""
    homes, good, damaged = node_caches_one_damaged(tmp_path, monkeypatch)
    results = run_ranks(tmp_path, homes, faulty=[2])
    assert len(results) == 4
    assert all('ok' in r for r in nonempty(results)), results
    assert len({r['ok'] for r in results}) == 1
    assert ended_together(results), results
    assert downloads(tmp_path) == ['2']
    repaired = torch.load(damaged, weights_only=True)
    assert repaired['meta']['official_name'] == 'iresnet50'
    state_dict = torch.load(good, weights_only=True)['state_dict']
    assert results[0]['ok'] == float(
        sum(v.double().sum() for v in state_dict.values()))
    assert f'the cached file {damaged} is not the converted iresnet50 ' \
        'checkpoint (not a readable PyTorch checkpoint' in logs(tmp_path, 4)


def test_a_damaged_copy_offline_stops_every_rank_naming_it(
        tmp_path, monkeypatch):
    """The same caches with MM_IRESNET_OFFLINE=1 (no download to repair
    it): all four ranks raise naming rank 2 and the damaged file within
    seconds, while rank 2 is still alive; the damaged file is removed and
    the good node's file kept."""
    homes, good, damaged = node_caches_one_damaged(tmp_path, monkeypatch)
    results = run_ranks(tmp_path, homes, faulty=[2], MM_IRESNET_OFFLINE='1')
    assert len(results) == 4
    for rank, result in enumerate(results):
        assert result.get('error') == 'WeightsError', result
        message = result['message']
        assert 'rank 2 (host' in message and f'this is rank {rank}' in \
            message, message
        assert f'the cached file {damaged} is not the converted ' \
            'iresnet50 checkpoint' in message, message
        assert 'it was removed' in message
        assert 'MM_IRESNET_OFFLINE is set' in message
    assert ended_together(results), results
    assert downloads(tmp_path) == []
    assert 'downloaded again' not in logs(tmp_path, 4)
    assert not osp.exists(damaged) and osp.isfile(good)


def test_a_lock_held_by_a_live_download_ends_at_the_timeout(
        tmp_path, monkeypatch):
    """Another process downloads (slowly, holding the lock) the name this
    process fetches with MM_IRESNET_LOCK_TIMEOUT=1: after about a second a
    WeightsError names the lock file, the holder's process id and host,
    and how to remove a stale lock; the holder still runs meanwhile."""
    import gdown

    from .test_weights import FakeDrive
    home = tmp_path / 'home'
    out = tmp_path / 'holder'
    os.makedirs(out)
    proc = start(out, home=home, DOWNLOAD_SLEEP='600')
    try:
        deadline = time.monotonic() + WATCHDOG_S
        while not osp.exists(out / 'downloading'):
            assert proc.poll() is None and time.monotonic() < deadline, \
                logs_of([out])
            time.sleep(0.1)
        monkeypatch.setenv('MM_IRESNET_HOME', str(home))
        monkeypatch.setenv('MM_IRESNET_LOCK_TIMEOUT', '1')
        monkeypatch.delenv('MM_IRESNET_OFFLINE')
        fake = FakeDrive()
        monkeypatch.setattr(gdown, 'download', fake.download)
        started = time.monotonic()
        with pytest.raises(WeightsError) as info:
            load_official('iresnet50')
        waited = time.monotonic() - started
        assert proc.poll() is None, logs_of([out])
    finally:
        kill_group(proc)
    assert 1 <= waited < 10, waited
    lock = cached_path_in(home) + '.lock'
    message = str(info.value)
    assert f'waited 1 s for the lock {lock}' in message, message
    assert f'held by process {proc.pid} on host {socket.gethostname()}' \
        in message, message
    assert f'remove {lock}' in message and 'MM_IRESNET_LOCK_TIMEOUT' in \
        message
    assert fake.calls == []
