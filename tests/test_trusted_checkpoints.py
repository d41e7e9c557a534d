"""Checkpoints the run trusts (named by the user, or written into its
work_dir) load with ``weights_only=True`` and mmengine's few types allowed
for the call; the runner's plumbing around saving and auto-resume."""
import os
import os.path as osp
import pickle
import sys

import numpy as np
import pytest
import torch

from mm_iresnet.checkpoint import trusted_checkpoint_load
from mm_iresnet.runner import PortableRunner

from .helpers import TinyModel
from .test_reliability import deterministic_video_overrides, run, train_cmd


class Payload:
    """A pickle payload: unpickling it runs a shell command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


class Lookup:
    """A payload through the one getattr a training checkpoint needs: it
    names a numpy method instead of a HistoryBuffer statistic."""

    def __reduce__(self):
        return getattr, (np.ndarray, 'tofile')


@pytest.fixture(scope='module')
def training_checkpoint(tmp_path_factory, root):
    """The checkpoint a real mmengine training run (tools/train.py, the
    moving-shapes demo, 3 iterations) writes."""
    tmp = tmp_path_factory.mktemp('trained')
    proc = run([sys.executable] + train_cmd(
        root, tmp / 'work', deterministic_video_overrides(tmp / 'clips', 3,
                                                          2, 3)), tmp)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp / 'work' / 'iter_3.pth'


@pytest.mark.slow
def test_a_training_checkpoint_loads_with_the_scoped_allowlist(
        training_checkpoint, tmp_path):
    from mmengine.logging import HistoryBuffer
    original = torch.load
    # it holds more than tensors: the plain safe load refuses it
    with pytest.raises(pickle.UnpicklingError):
        torch.load(training_checkpoint, weights_only=True)
    with trusted_checkpoint_load():
        assert torch.load is original  # not replaced
        ckpt = torch.load(training_checkpoint, weights_only=True)
    assert ckpt['meta']['iter'] == 3 and ckpt['optimizer']['state']
    buffers = ckpt['message_hub']['log_scalars']
    assert buffers and all(isinstance(b, HistoryBuffer)
                           for b in buffers.values())
    # the allowlist ends with the block
    with pytest.raises(pickle.UnpicklingError):
        torch.load(training_checkpoint, weights_only=True)
    # through the runner: a checkpoint the user named on the command line
    runner = PortableRunner(model=TinyModel(), work_dir=str(tmp_path / 'w'))
    runner.trust([str(training_checkpoint)])
    assert runner.trusts(str(training_checkpoint))
    loaded = runner.load_checkpoint(str(training_checkpoint))
    assert loaded['meta']['iter'] == 3


@pytest.mark.slow
def test_a_trusted_checkpoint_with_a_pickle_payload_is_refused(
        training_checkpoint, tmp_path):
    """The same checkpoint plus one object whose unpickling runs a command,
    written into the run's work_dir (trusted): refused, nothing run."""
    work = tmp_path / 'work'
    runner = PortableRunner(model=TinyModel(), work_dir=str(work))
    with trusted_checkpoint_load():
        ckpt = torch.load(training_checkpoint, weights_only=True)
    marker = tmp_path / 'payload_ran'
    ckpt['payload'] = Payload(marker)
    inside = work / 'iter_4.pth'
    torch.save(ckpt, inside)
    assert runner.trusts(str(inside))
    with pytest.raises(pickle.UnpicklingError, match='system'):
        runner.load_checkpoint(str(inside))
    assert not marker.exists()
    ckpt['payload'] = Lookup()
    torch.save(ckpt, inside)
    with pytest.raises(pickle.UnpicklingError, match='refused getattr'):
        runner.load_checkpoint(str(inside))


def test_auto_resume_without_or_with_a_stale_last_checkpoint(tmp_path):
    """No last_checkpoint: the highest complete iter_N; one naming a
    removed file: the same; one naming a complete file: that file."""
    work = tmp_path / 'w'
    runner = PortableRunner(model=TinyModel(), work_dir=str(work))
    for n in (4, 8):
        torch.save({'state_dict': TinyModel().state_dict()},
                   work / f'iter_{n}.pth')
    assert not (work / 'last_checkpoint').exists()
    assert runner.find_resumable_checkpoint() == str(work / 'iter_8.pth')
    (work / 'last_checkpoint').write_text(str(work / 'iter_12.pth'))
    assert runner.find_resumable_checkpoint() == str(work / 'iter_8.pth')
    (work / 'last_checkpoint').write_text(str(work / 'iter_4.pth'))
    assert runner.find_resumable_checkpoint() == str(work / 'iter_4.pth')


@pytest.mark.parametrize('how', ['keywords', 'positions'])
def test_save_checkpoint_reads_its_arguments_by_name(tmp_path, how):
    """backend_args given by keyword or by position: a save through a
    storage backend goes straight to mmengine (no local temporary name);
    without it the local save goes through .partial-NAME."""
    from mmengine.runner import Runner
    work = tmp_path / 'w'
    runner = PortableRunner(model=TinyModel(), work_dir=str(work))
    calls = []

    def fake_save(self, out_dir, filename, *args, **kwargs):
        calls.append(filename)
        torch.save({'state_dict': {}}, osp.join(out_dir, filename))

    backend = dict(backend='local')
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Runner, 'save_checkpoint', fake_save)
        if how == 'keywords':
            runner.save_checkpoint(str(work), 'iter_1.pth',
                                   backend_args=backend, by_epoch=False)
            runner.save_checkpoint(str(work), 'iter_2.pth', by_epoch=False)
        else:  # mmengine 0.10.7's order of parameters
            runner.save_checkpoint(str(work), 'iter_1.pth', None, True, True,
                                   None, False, backend)
            runner.save_checkpoint(str(work), 'iter_2.pth', None, True, True,
                                   None, False)
    assert calls == ['iter_1.pth', '.partial-iter_2.pth']
    assert (work / 'iter_2.pth').exists()
    with pytest.raises(TypeError):  # an argument mmengine does not take
        runner.save_checkpoint(str(work), 'iter_3.pth', no_such=1)
