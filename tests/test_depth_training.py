"""The depth training study (tools/analysis/depth_training.py): short mode end
to end, resume, and the generated task being learnable but not trivial."""
import csv
import math

import numpy as np
import pytest
import torch

from .helpers import nonempty
from .scripts import load_script


@pytest.fixture(scope='module')
def tool(root):
    return load_script(root, 'tools', 'analysis', 'depth_training.py')


def read_csv(path):
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


def test_short_mode_end_to_end_and_resume(tool, tmp_path, capsys):
    out = str(tmp_path)
    tool.main(['--short', '--out-dir', out])
    path = tmp_path / 'depth_training.csv'
    rows = read_csv(path)
    with open(path) as f:
        assert f.readline().strip().split(',') == list(tool.COLUMNS)
    cfg = tool.SHORT
    runs = {(r['variant'], int(r['depth']), int(r['seed'])) for r in rows}
    assert runs == {(v, d, s)
                    for v in tool.STUDY_VARIANTS
                    for d in cfg['depths']
                    for s in cfg['seeds']}
    # one row per evaluation point of every run
    expected_steps = list(
        range(cfg['eval_every'], cfg['steps'] + 1, cfg['eval_every']))
    for run in runs:
        steps = [
            int(r['step']) for r in rows
            if (r['variant'], int(r['depth']), int(r['seed'])) == run
        ]
        assert steps == expected_steps
    for r in rows:
        assert r['finite'] == '1'
        assert math.isfinite(float(r['train_loss']))
        assert 0 <= float(r['heldout_acc']) <= 1
        assert float(r['sec_per_step']) > 0
        assert float(r['last_stage_std']) > 0
    for name in ('depth_training.png', 'depth_training_summary.md',
                 'depth_training.json'):
        assert (tmp_path / name).stat().st_size > 0
    summary = (tmp_path / 'depth_training_summary.md').read_text()
    # ReLUs after an addition per stage: released ResStage two (after the
    # start block, rectified in place by the first middle block, and after
    # the end block), the paper's reading one, ResNet v1 one per block,
    # pre-activation none
    assert '| iresnet | 14 | 0 |' in summary
    relus = {v: tool.main_path_relus(v, 14) for v in tool.STUDY_VARIANTS}
    assert relus == dict(
        iresnet=[2, 2, 2],
        iresnet_paper=[1, 1, 1],
        resnet_v1=[2, 2, 2],
        preact=[0, 0, 0])
    assert tool.main_path_relus('resnet_v1', 110) == [18, 18, 18]
    assert tool.main_path_relus('iresnet_paper', 1202) == [1, 1, 1]

    # resume: nothing left to run, the CSV is unchanged
    capsys.readouterr()
    before = path.read_text()
    tool.main(['--short', '--out-dir', out])
    assert path.read_text() == before
    assert capsys.readouterr().out.count('skip ') == len(runs)

    # a run cut off half-way is dropped and run again; the others are kept
    cut = [
        r for r in rows if not (r['variant'] == 'preact' and r['depth'] == '14'
                                and int(r['step']) == cfg['steps'])
    ]
    with open(path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=tool.COLUMNS)
        writer.writeheader()
        writer.writerows(cut)
    tool.main(['--short', '--out-dir', out])
    log = capsys.readouterr().out
    assert "dropping unfinished runs [('preact', 14, 0)]" in log
    assert log.count('skip ') == len(runs) - 1
    again = read_csv(path)
    assert len(again) == len(rows)

    # the rerun is deterministic: same seed, same losses
    def losses(rs):
        return sorted((r['variant'], r['depth'], r['step'],
                       round(float(r['train_loss']), 4)) for r in rs)

    assert losses(again) == losses(rows)

    # other settings in the same directory are refused
    with pytest.raises(ValueError, match='other settings'):
        tool.main(['--short', '--out-dir', out, '--steps', '6'])
    with pytest.raises(ValueError, match='6n\\+2'):
        tool.main(
            ['--short', '--out-dir',
             str(tmp_path / 'x'), '--depths', '21'])


def test_task_balanced_deterministic_not_linear(tool):
    x, y = tool.make_task(800, 'train')
    assert x.shape == (800, 3, 32, 32)
    assert torch.bincount(y, minlength=4).tolist() == [200] * 4
    x2, y2 = tool.make_task(800, 'train')
    assert torch.equal(x, x2) and torch.equal(y, y2)
    xh, yh = tool.make_task(400, 'heldout')
    assert torch.bincount(yh, minlength=4).tolist() == [100] * 4
    # disjoint seeds: no held-out image is a training image
    train_images = {image.numpy().tobytes() for image in x}
    assert not any(image.numpy().tobytes() in train_images
                   for image in nonempty(xh))
    with pytest.raises(ValueError, match='evenly'):
        tool.make_task(10, 'train')
    with pytest.raises(ValueError, match='task'):
        tool.make_task(8, 'train', task='digits')

    # a linear probe on the raw pixels (multinomial logistic regression,
    # L2-regularised, trained to convergence) stays near chance (0.25) ...
    torch.manual_seed(0)
    mean, std = x.mean(0), x.std(0) + 1e-6
    a, b = ((x - mean) / std).flatten(1), ((xh - mean) / std).flatten(1)
    probe = torch.nn.Linear(a.shape[1], 4)
    optim = torch.optim.LBFGS(
        probe.parameters(), max_iter=200, line_search_fn='strong_wolfe')

    def closure():
        optim.zero_grad()
        loss = torch.nn.functional.cross_entropy(probe(a), y) + \
            1e-3 * probe.weight.pow(2).sum()
        loss.backward()
        return loss

    optim.step(closure)
    with torch.no_grad():
        train_acc = (probe(a).argmax(1) == y).float().mean().item()
        held_acc = (probe(b).argmax(1) == yh).float().mean().item()
    assert held_acc < 0.35, held_acc
    assert train_acc > 0.5  # it fits the training images, not the rule

    # ... while the labels are a simple non-linear function of the pixels:
    # Fourier power in four orientation wedges (no learning) gets most right
    img = xh.numpy() - xh.numpy().mean((2, 3), keepdims=True)
    power = (np.abs(np.fft.fft2(img))**2).sum(1)
    f = np.fft.fftfreq(32)
    fy, fx = np.meshgrid(f, f, indexing='ij')
    wedge = np.round(np.degrees(np.arctan2(fy, fx)) % 180 / 45) % 4
    band = (np.hypot(fx, fy) > 0.12) & (np.hypot(fx, fy) < 0.35)
    energy = np.stack([(power * ((wedge == k) & band)).sum((1, 2))
                       for k in range(4)], 1)
    assert (energy.argmax(1) == yh.numpy()).mean() > 0.8


def test_shapes_task_option(tool):
    x, y = tool.make_task(40, 'train', task='shapes')
    assert x.shape == (40, 3, 32, 32)
    assert torch.bincount(y, minlength=4).tolist() == [10] * 4
    img, kind = tool.largest_shape_image(123)
    assert img.shape == (32, 32, 3) and 0 <= kind < 4
