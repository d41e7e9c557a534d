"""Every checkpoint load (the runner's, the backbones', and with torch >=
2.6 torch's default one) allows tensors and mmengine's few checkpoint types,
nothing else, whatever ``weights_only`` the caller passes; the runner's
plumbing around saving and auto-resume."""
import os
import os.path as osp
import pickle
import sys

import numpy as np
import pytest
import torch
from mmengine.runner import CheckpointLoader

from mm_iresnet import checkpoint as ckpt_module
from mm_iresnet.checkpoint import (NATIVE_ALLOWLIST, restricted_load,
                                   restricted_torch_load)
from mm_iresnet.models import IResNet
from mm_iresnet.runner import PortableRunner
from .helpers import TinyModel, nonempty
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
    proc = run(
        [sys.executable] +
        train_cmd(root, tmp / 'work',
                  deterministic_video_overrides(tmp / 'clips', 3, 2, 3)), tmp)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp / 'work' / 'iter_3.pth'


def _fallback_load(path, **kwargs):
    """torch.load through the unpickler used before torch 2.6."""
    return torch.load(
        path,
        weights_only=False,
        pickle_module=ckpt_module._restricted_pickle,
        **kwargs)


@pytest.mark.slow
def test_a_training_checkpoint_loads_under_the_rule(training_checkpoint,
                                                    tmp_path):
    from mmengine.logging import HistoryBuffer
    original = torch.load
    for load in (restricted_load, _fallback_load):
        ckpt = load(training_checkpoint)
        assert ckpt['meta']['iter'] == 3 and ckpt['optimizer']['state']
        buffers = ckpt['message_hub']['log_scalars']
        assert buffers and all(
            isinstance(b, HistoryBuffer) for b in nonempty(buffers.values()))
    with restricted_torch_load():
        assert torch.load is restricted_load
        assert torch.load(
            training_checkpoint, weights_only=False)['meta']['iter'] == 3
    assert torch.load is original  # put back
    if NATIVE_ALLOWLIST:
        # import mm_iresnet allowed the types process-wide: torch's default
        # load (mmdet's and mmaction2's own tools) reads the file too
        assert torch.load(training_checkpoint)['meta']['iter'] == 3
    # through the runner, from anywhere
    runner = PortableRunner(model=TinyModel(), work_dir=str(tmp_path / 'w'))
    loaded = runner.load_checkpoint(str(training_checkpoint))
    assert loaded['meta']['iter'] == 3


def _weights_only_false(filename, map_location=None):
    """mmengine's local loader as its main branch writes it."""
    return torch.load(filename, map_location=map_location, weights_only=False)


@pytest.mark.slow
@pytest.mark.parametrize('forced', [False, True])
def test_a_checkpoint_with_a_pickle_payload_is_refused(training_checkpoint,
                                                       tmp_path, monkeypatch,
                                                       forced):
    """The training checkpoint plus one object whose unpickling runs a
    command: refused by the runner and by a backbone's init, nothing run,
    also when mmengine's loader passes ``weights_only=False``."""
    if forced:
        monkeypatch.setitem(CheckpointLoader._schemes, '', _weights_only_false)
    work = tmp_path / 'work'
    runner = PortableRunner(model=TinyModel(), work_dir=str(work))
    ckpt = restricted_load(training_checkpoint)
    marker = tmp_path / 'payload_ran'
    ckpt['payload'] = Payload(marker)
    inside = work / 'iter_4.pth'
    torch.save(ckpt, inside)
    backbone = IResNet(
        depth=18, init_cfg=dict(type='Pretrained', checkpoint=str(inside)))
    for load in (lambda: runner.load_checkpoint(str(inside)),
                 lambda: _fallback_load(inside), backbone.init_weights):
        with pytest.raises(pickle.UnpicklingError, match='system'):
            load()
    assert not marker.exists()
    ckpt['payload'] = Lookup()
    torch.save(ckpt, inside)
    for load in (runner.load_checkpoint, _fallback_load):
        with pytest.raises(pickle.UnpicklingError, match='refused getattr'):
            load(str(inside))


@pytest.mark.parametrize('load', [restricted_load, _fallback_load])
def test_the_rule_without_a_training_run(tmp_path, load):
    """What a training checkpoint holds (numpy arrays, scalars and dtypes,
    HistoryBuffer, sets) loads through the running torch's path and through
    the unpickler used before torch 2.6; any other object is refused."""
    from mmengine.logging import HistoryBuffer
    state = {
        'array': np.arange(6, dtype=np.float32).reshape(2, 3),
        'scalar': np.float64(0.5),
        'dtype': np.dtype('int64'),
        'buffer': HistoryBuffer([1.0, 3.0], [1, 1]),
        'keys': {'a'},
        'tensor': torch.ones(2)
    }
    path = tmp_path / 'c.pth'
    torch.save(state, path)
    loaded = load(path)
    assert np.array_equal(loaded['array'], state['array'])
    assert loaded['scalar'] == 0.5 and loaded['dtype'] == np.int64
    assert loaded['buffer'].mean() == 2.0 and loaded['keys'] == {'a'}
    marker = tmp_path / 'ran'
    state['payload'] = Payload(marker)
    torch.save(state, path)
    with pytest.raises(pickle.UnpicklingError, match='system'):
        load(path)
    assert not marker.exists()


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
            runner.save_checkpoint(
                str(work), 'iter_1.pth', backend_args=backend, by_epoch=False)
            runner.save_checkpoint(str(work), 'iter_2.pth', by_epoch=False)
        else:  # mmengine 0.10.7's order of parameters
            runner.save_checkpoint(
                str(work), 'iter_1.pth', None, True, True, None, False,
                backend)
            runner.save_checkpoint(
                str(work), 'iter_2.pth', None, True, True, None, False)
    assert calls == ['iter_1.pth', '.partial-iter_2.pth']
    assert (work / 'iter_2.pth').exists()
    with pytest.raises(TypeError):  # an argument mmengine does not take
        runner.save_checkpoint(str(work), 'iter_3.pth', no_such=1)
