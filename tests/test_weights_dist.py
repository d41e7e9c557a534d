"""Fetching ``iresnet://NAME`` when things go wrong in a distributed run,
with several nodes, and across independent jobs on one machine.

Each test starts real processes (tests/fetch_worker.py: gloo on the CPU,
Google Drive replaced by the counting fake of tests/test_weights.py). A
watchdog fails a test when any rank is still waiting after 60 s. A rank
made to fail stays alive after raising until the test releases it, so the
other ranks are seen to stop without relying on its death.
"""
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest

from mm_iresnet.weights import cached_path, load_official

from .helpers import free_port
from .test_weights import cache_listing

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
WATCHDOG_S = 60

pytestmark = pytest.mark.slow


def start(out, rank=None, world=None, local=None, home=None, **env):
    """A worker process; ``local`` = (LOCAL_RANK, LOCAL_WORLD_SIZE)."""
    env = dict(os.environ, OUT=str(out), NAME='iresnet50',
               MM_IRESNET_HOME=str(home), **env)
    env.pop('MM_IRESNET_OFFLINE')  # the worker replaces the download
    if world is not None:
        env.update(RANK=str(rank), WORLD_SIZE=str(world))
    if local is not None:
        env.update(LOCAL_RANK=str(local[0]), LOCAL_WORLD_SIZE=str(local[1]))
    log = open(osp.join(out, f'log{rank if rank is not None else ""}.txt'),
               'a')
    return subprocess.Popen([sys.executable, '-m', 'tests.fetch_worker'],
                            cwd=ROOT, env=env, stdout=log, stderr=log)


def run_ranks(out, homes, faulty=(), fault=''):
    """Ranks ``0..len(homes)-1`` (``homes[r]``: rank r's cache home; the
    ranks that share one are a node, in order), until every rank that is not
    ``faulty`` has ended; then the faulty ones are released. Returns each
    rank's result."""
    nodes = list(dict.fromkeys(homes))
    per_node = len(homes) // len(nodes)
    env = dict(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port()),
               FAULTY=','.join(map(str, faulty)), FAULT=fault)
    procs = [start(out, r, len(homes), (r % per_node, per_node), homes[r],
                   **env) for r in range(len(homes))]
    results = {r: osp.join(out, f'rank{r}.json') for r in range(len(homes))}
    try:
        deadline = time.monotonic() + WATCHDOG_S
        while not all(p.poll() is not None or (r in faulty and osp.exists(
                results[r])) for r, p in enumerate(procs)):
            waiting = [r for r, p in enumerate(procs)
                       if p.poll() is None and r not in faulty]
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
            if p.poll() is None:
                p.kill()
    return [json.load(open(results[r])) for r in range(len(homes))]


def logs(out, n):
    return '\n'.join(open(osp.join(out, f'log{r}.txt')).read()[-1500:]
                     for r in range(n))


def downloads(out):
    path = osp.join(out, 'downloads.txt')
    return open(path).read().split() if osp.exists(path) else []


@pytest.mark.parametrize('fault, cause, fix', [
    ('permission', 'PermissionError', 'writable'),
    ('disk_full', 'No space left on device', 'writable with room'),
    ('conversion', "KeyError: 'layer1.0.conv1.weight'", 'convert_checkpoint'),
    ('no_gdown', 'gdown, which downloads from Google Drive, cannot be imported',
     'pip install "gdown>=5.1"'),
    ('refused', 'Too many users have viewed', 'convert_checkpoint'),
])
def test_a_failure_on_the_downloading_rank_stops_every_rank(
        tmp_path, fault, cause, fix):
    """Rank 0 (the one that downloads) fails; rank 1 raises the same error
    while rank 0 is still alive: which rank failed, the cause, the fix."""
    results = run_ranks(tmp_path, [tmp_path / 'home'] * 2, faulty=[0],
                        fault=fault)
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
    assert all('ok' in r for r in results), results
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
    name at once: one downloads (a slow download), the other waits for it
    and reads the cache."""
    home = tmp_path / 'home'
    outs = [tmp_path / 'a', tmp_path / 'b']
    procs = []
    for out in outs:
        os.makedirs(out)
        procs.append(start(out, home=home, DOWNLOAD_SLEEP='3'))
    for p in procs:
        assert p.wait(timeout=WATCHDOG_S * 2) == 0, logs_of(outs)
    results = [json.load(open(out / 'rank0.json')) for out in outs]
    assert len(results) == 2 and all('ok' in r for r in results), results
    assert len({r['ok'] for r in results}) == 1
    assert len(downloads(outs[0]) + downloads(outs[1])) == 1


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
        if proc.poll() is None:
            proc.kill()
    left = [n for n in cache_listing(home) if '.download.' in n]
    assert left, cache_listing(home)  # the dead download's folder
    monkeypatch.setenv('MM_IRESNET_HOME', str(home))
    monkeypatch.delenv('MM_IRESNET_OFFLINE')
    fake = FakeDrive()
    monkeypatch.setattr(gdown, 'download', fake.download)
    assert load_official('iresnet50')['meta']['official_name'] == 'iresnet50'
    assert len(fake.calls) == 1
    assert cache_listing(home) == ['checkpoints',
                                   'checkpoints/iresnet50_imagenet_mm.pth']
    assert osp.isfile(cached_path('iresnet50'))
