"""Reliability: multi-process training, resume after SIGKILL, crash-safe
checkpoints, non-finite losses, extreme depth numerics."""
import glob
import os
import os.path as osp
import subprocess
import sys
import time

import pytest
import torch

from .helpers import (TinyModel, free_port, kill_group,
                      moving_shapes_overrides, nonempty, popen_group,
                      run_process)

VIDEO = 'configs/demo/i3d_iresnet18_moving_shapes.py'


def deterministic_video_overrides(data_root, iters, batch, ckpt_interval):
    """A tiny, deterministic I3D run: fixed frame sampling, frozen BN
    statistics, no dropout, plain SGD."""
    return moving_shapes_overrides(data_root, 6, iters) + [
        f'train_dataloader.batch_size={batch}',
        'train_dataloader.dataset.pipeline.0.test_mode=True',
        'model.backbone.base_channels=8',
        'model.cls_head.in_channels=64',
        'model.backbone.norm_eval=True',
        'model.cls_head.dropout_ratio=0',
        f'default_hooks.checkpoint.interval={ckpt_interval}',
        'default_hooks.checkpoint.max_keep_ckpts=-1',
        'optim_wrapper.optimizer.type=SGD',
        'optim_wrapper.optimizer.lr=0.05',
        'optim_wrapper.optimizer.momentum=0.9',
    ]


def train_cmd(root, work_dir, overrides, extra=()):
    return [
        osp.join(root, 'tools', 'train.py'),
        osp.join(root, VIDEO), '--work-dir',
        str(work_dir), *extra, '--cfg-options', *overrides
    ]


def run(args, cwd, timeout=600):
    env = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1')
    return run_process(
        args,
        timeout=timeout,
        cwd=str(cwd),
        env=env,
        capture_output=True,
        text=True)


def weights(path):
    return torch.load(
        path, map_location='cpu', weights_only=False)['state_dict']


def assert_same_weights(a, b, rtol=1e-3, atol=1e-5):
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(
            a[k], b[k], rtol=rtol, atol=atol, msg=lambda m, k=k: f'{k}: {m}')


@pytest.mark.slow
def test_two_process_gloo_training_matches_one_process(root, tmp_path):
    """torchrun with 2 CPU processes (gloo) x 2 clips == 1 process x 4 clips
    of the same global batch: same weights after 3 SGD steps (rtol 1e-3),
    same validation accuracy. The 2-process run asks for SyncBN, which is
    converted to BN on CPU with a warning."""
    data = tmp_path / 'clips'
    single = run([sys.executable] + train_cmd(
        root, tmp_path / 'one', deterministic_video_overrides(data, 3, 4, 3)),
                 tmp_path)
    assert single.returncode == 0, single.stderr[-3000:]
    dist = run([
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
        f'--master_port={free_port()}'
    ] + train_cmd(
        root,
        tmp_path / 'two',
        deterministic_video_overrides(data, 3, 2, 3) +
        ['model.backbone.norm_cfg.type=SyncBN'],
        extra=['--launcher', 'pytorch']), tmp_path)
    log = dist.stdout + dist.stderr
    assert dist.returncode == 0, log[-3000:]
    assert 'distributed over gloo on CPU' in log
    assert 'SyncBN needs CUDA: converted to BN' in log
    assert 'Iter(train) [3/3]' in log
    assert_same_weights(
        weights(tmp_path / 'one' / 'iter_3.pth'),
        weights(tmp_path / 'two' / 'iter_3.pth'))

    def accuracy(text):
        line = [t for t in text.splitlines() if 'acc/top1:' in t][-1]
        return float(line.split('acc/top1:')[1].split()[0])

    assert accuracy(single.stdout + single.stderr) == accuracy(log)


@pytest.mark.slow
def test_resume_after_sigkill_continues_exactly(root, tmp_path):
    """Kill a run with SIGKILL once iter_8 is saved, resume with --resume:
    it continues at the saved iteration with optimizer and scheduler state
    and ends with the weights of an uninterrupted run."""
    data = tmp_path / 'clips'
    over = deterministic_video_overrides(data, 40, 4, 4)
    reference = run([sys.executable] + train_cmd(root, tmp_path / 'ref', over),
                    tmp_path)
    assert reference.returncode == 0, reference.stderr[-3000:]

    work = tmp_path / 'work'
    env = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1')
    proc = popen_group(
        [sys.executable] + train_cmd(root, work, over),
        cwd=str(tmp_path),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300
        while not (work / 'iter_8.pth').exists():
            assert proc.poll() is None, 'training ended before the kill'
            assert time.time() < deadline
            time.sleep(0.02)
    finally:  # the SIGKILL (of the training and what it started)
        kill_group(proc)
    assert proc.returncode == -9  # killed, not ended
    assert not (work / 'iter_40.pth').exists()
    saved = sorted(
        int(osp.basename(p)[5:-4])
        for p in glob.glob(str(work / 'iter_*.pth')))
    assert saved and saved[-1] < 40

    resumed = run([sys.executable] +
                  train_cmd(root, work, over, extra=['--resume']), tmp_path)
    log = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, log[-3000:]
    last = saved[-1]
    assert f'resumed epoch: 0, iter: {last}' in log
    import re
    assert re.search(rf'Iter\(train\) \[\s*{last + 1}/40\]', log)
    assert not re.search(rf'Iter\(train\) \[\s*{last}/40\]', log)
    final = torch.load(work / 'iter_40.pth', weights_only=False)
    assert final['meta']['iter'] == 40
    assert final['optimizer']['state'], 'optimizer state was saved'
    assert_same_weights(
        weights(tmp_path / 'ref' / 'iter_40.pth'), final['state_dict'])


def test_crash_safe_checkpoints(tmp_path):
    """A truncated newest checkpoint or a damaged last_checkpoint pointer is
    skipped by auto-resume; saves go through a temporary name."""
    from mm_iresnet.runner import PortableRunner

    work = tmp_path / 'w'
    runner = PortableRunner(model=TinyModel(), work_dir=str(work))
    good = work / 'iter_8.pth'
    torch.save({'state_dict': TinyModel().state_dict()}, good)
    data = good.read_bytes()
    (work / 'iter_12.pth').write_bytes(data[:len(data) // 2])
    (work / 'last_checkpoint').write_text(str(work / 'iter_1'))  # cut write
    assert runner.find_resumable_checkpoint() == str(good)
    (work / 'last_checkpoint').write_text(str(work / 'iter_12.pth'))
    assert runner.find_resumable_checkpoint() == str(good)
    (work / '.partial-iter_20.pth').write_bytes(data[:100])  # killed save
    assert runner.find_resumable_checkpoint() == str(good)

    from mmengine.runner import Runner
    calls = []

    def fake_save(self, out_dir, filename, *args, **kwargs):
        calls.append(filename)
        assert not (work / 'iter_16.pth').exists()  # not before the rename
        torch.save({'state_dict': {}}, osp.join(out_dir, filename))

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Runner, 'save_checkpoint', fake_save)
        runner.save_checkpoint(str(work), 'iter_16.pth')
    assert calls == ['.partial-iter_16.pth']
    assert (work / 'iter_16.pth').exists()
    assert not (work / '.partial-iter_16.pth').exists()
    assert runner.find_resumable_checkpoint() == str(work / 'iter_16.pth')


def test_finite_loss_hook_names_iteration():
    from mm_iresnet.hooks import FiniteLossHook

    class FakeRunner:
        iter, epoch = 41, 0

    hook = FiniteLossHook()
    hook.after_train_iter(
        FakeRunner(), 0, outputs={
            'loss': torch.tensor(1.),
            'acc': 0.5
        })
    with pytest.raises(
            FloatingPointError, match=r'iteration 42 .*loss_cls=nan'):
        hook.after_train_iter(
            FakeRunner(),
            0,
            outputs={
                'loss': torch.tensor(float('nan')),
                'loss_cls': torch.tensor(float('nan')),
                'acc': 0.5
            })


@pytest.mark.slow
@pytest.mark.parametrize('autocast', [False, True])
def test_iresnet1001_forward_backward_finite_at_init(autocast):
    from mm_iresnet.models import IResNet
    torch.manual_seed(0)
    model = IResNet(depth=1001, base_channels=8, norm_eval=False)
    model.init_weights()
    model.train()
    x = torch.randn(2, 3, 64, 64)
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=autocast):
        outs = model(x)
        loss = sum(o.float().pow(2).mean() for o in outs)
    loss.backward()
    assert torch.isfinite(loss)
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert len(grads) == len(list(model.parameters()))
    assert all(torch.isfinite(g).all() for g in nonempty(grads))
    assert model.conv1.weight.grad.abs().sum() > 0
