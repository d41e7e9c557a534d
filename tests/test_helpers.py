"""The tests' own helpers where a mistake would hide failures: the
process runner (a deadline, and nothing it started left running)."""
import os
import subprocess
import sys
import time

import pytest

from .helpers import kill_group, popen_group, run_process


def running(pid):
    """Whether ``pid`` is a live process (not gone, not a zombie)."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except FileNotFoundError:
        return False


def wait_ended(pid, within_s=10):
    deadline = time.monotonic() + within_s
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not running(pid)


@pytest.mark.skipif(not os.path.isdir('/proc'), reason='reads /proc')
def test_run_process_deadline_kills_what_it_started(tmp_path):
    """At its deadline the process and its own child are killed, and the
    output so far comes with the error."""
    pid = tmp_path / 'pid'
    start = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired) as err:
        run_process([
            'bash', '-c', f'sleep 300 & echo $! > {pid}; '
            'echo started; wait'
        ],
                    timeout=2,
                    capture_output=True,
                    text=True)
    assert time.monotonic() - start < 30
    assert 'started' in err.value.stdout
    assert wait_ended(int(pid.read_text()))


@pytest.mark.skipif(not os.path.isdir('/proc'), reason='reads /proc')
def test_run_process_ends_what_a_finished_process_left(tmp_path):
    pid = tmp_path / 'pid'
    proc = run_process(['bash', '-c', f'sleep 300 & echo $! > {pid}; echo ok'],
                       timeout=60,
                       capture_output=True,
                       text=True)
    assert proc.returncode == 0 and proc.stdout == 'ok\n'
    assert wait_ended(int(pid.read_text()))
    with pytest.raises(subprocess.CalledProcessError):
        run_process([sys.executable, '-c', 'raise SystemExit(3)'],
                    timeout=60,
                    check=True)


@pytest.mark.skipif(not os.path.isdir('/proc'), reason='reads /proc')
def test_kill_group_ends_the_process_and_its_children(tmp_path):
    pid = tmp_path / 'pid'
    proc = popen_group(['bash', '-c', f'sleep 300 & echo $! > {pid}; wait'])
    try:
        deadline = time.monotonic() + 30
        while not (pid.exists() and pid.read_text().strip()):
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        kill_group(proc)
    assert proc.returncode == -9
    assert wait_ended(int(pid.read_text()))
