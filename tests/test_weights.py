"""Official ImageNet weights by name (``iresnet://NAME``).

No test touches the network: ``gdown.download``, the one function that
does, is replaced by one that writes what Google Drive serves, an official
checkpoint in its real format (a plain state dict with the official keys,
rebuilt by the fixtures' recipe), or a broken variant of it. The transfer
from Google Drive itself is not exercised here.
"""
import inspect
import os
import os.path as osp
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.runner import CheckpointLoader

from mm_iresnet.checkpoint import CheckpointError
from mm_iresnet.cli import official_checkpoints, prepare_official_weights
from mm_iresnet.models import IResNet, IResNet3d
from mm_iresnet.official import FAMILIES, OFFICIAL_MODELS, SOURCES, drive_url
from mm_iresnet.weights import (WeightsError, cache_dir, cached_path,
                                load_official)
from .fixtures.official.make_fixtures import official_state_dict
from .helpers import (free_port, kill_group, load_fixture, nonempty,
                      popen_group, rel_err, run_process)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOLERANCE = 1e-5
BY_URL = {
    drive_url(m): name
    for name, m in OFFICIAL_MODELS.items() if m.drive_id
}


def official_format(name):
    """The state dict of official model ``name`` as its file holds it. The
    fixtures' recipe leaves the classifier bias zero; here it is not, so
    that a lost or misplaced bias shows in the logits."""
    keys = load_fixture('master_babdc4f', name)['keys']
    state_dict = official_state_dict(keys)
    bias = state_dict['fc.bias']
    state_dict['fc.bias'] = torch.linspace(-1, 1,
                                           bias.numel()).reshape(bias.shape)
    return state_dict


def official_file(name, path):
    """Write official model ``name`` as Google Drive serves it."""
    torch.save(official_format(name), path)


def legacy_file(name, path):
    """The file as the PyTorch of 2020 wrote it (not a zip archive)."""
    torch.save(
        official_format(name), path, _use_new_zipfile_serialization=False)


def data_parallel_file(name, path):
    """The state dict of a ``DataParallel`` model: keys prefixed
    ``module.``."""
    torch.save({
        f'module.{k}': v
        for k, v in official_format(name).items()
    }, path)


class FakeDrive:
    """Stands in for ``gdown.download``; ``serve(name, path)`` writes the
    file of official model ``name`` (default: the real-format file). Its
    arguments are bound to the installed ``gdown.download``'s signature (or
    ``real``'s), so a call the real function would reject fails here too."""

    def __init__(self, real=None):
        import gdown
        self.signature = inspect.signature(real or gdown.download)
        self.calls = []
        self.serve = official_file

    def download(self, *args, **kwargs):
        arguments = self.signature.bind(*args, **kwargs).arguments
        self.calls.append(arguments['url'])
        self.serve(BY_URL[arguments['url']], arguments['output'])
        return arguments['output']


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv('MM_IRESNET_HOME', str(tmp_path / 'home'))
    return tmp_path / 'home'


@pytest.fixture
def drive(monkeypatch):
    import gdown
    monkeypatch.delenv('MM_IRESNET_OFFLINE')
    fake = FakeDrive()
    monkeypatch.setattr(gdown, 'download', fake.download)
    return fake


def cache_listing(home):
    """Every file and folder under the cache home (hidden ones too), but
    the lock files that stay beside the names fetched."""
    return sorted(
        osp.relpath(osp.join(d, n), home) for d, dirs, files in os.walk(home)
        for n in dirs + files if not n.endswith('_imagenet_mm.pth.lock'))


def official_outputs(model, fixture):
    """The stage outputs of ``model`` (eval mode) on the fixture's input,
    checked against the official code's to TOLERANCE."""
    model.eval()
    with torch.no_grad():
        stages = model(fixture['input'].clone())
    assert len(stages) == len(fixture['stages']) == 4
    errors = [rel_err(a, b) for a, b in zip(stages, fixture['stages'])]
    assert max(errors) <= TOLERANCE, errors
    return stages


def test_official_table_matches_the_released_code():
    """Names, families and presets as the official master babdc4f has them
    (models/*.py model_urls): 7 families, 18/34/1001 not released."""
    assert set(FAMILIES) == {
        'iresnet', 'resstage', 'iresgroup', 'iresgroupfix', 'resnet',
        'resgroup', 'resgroupfix'
    }
    assert set(FAMILIES) <= set(SOURCES)
    unavailable = {n for n, m in OFFICIAL_MODELS.items() if not m.drive_id}
    assert unavailable == {
        'iresnet18', 'iresnet34', 'iresnet1001', 'resstage18', 'resstage34',
        'resnet18', 'resnet34'
    }
    assert len(OFFICIAL_MODELS) == 33
    assert OFFICIAL_MODELS['iresnet50'].drive_id == \
        '1Waw3ob8KPXCY9iCLdAD6RUA0nvVguc6K'
    assert OFFICIAL_MODELS['iresnet404'].depth == 404
    assert len({m.drive_id
                for m in OFFICIAL_MODELS.values()
                if m.drive_id}) == 26  # no id twice


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv('MM_IRESNET_HOME', raising=False)
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'xdg'))
    assert cache_dir() == str(tmp_path / 'xdg' / 'mm_iresnet' / 'checkpoints')
    monkeypatch.setenv('MM_IRESNET_HOME', str(tmp_path / 'mine'))
    assert cache_dir() == str(tmp_path / 'mine' / 'checkpoints')


def test_pretrained_by_name_reproduces_the_official_outputs(home, drive):
    """init_cfg Pretrained iresnet://iresnet50: downloaded once, converted,
    cached; the backbone (and the kept classifier) give the official master
    outputs; a second load reads the cache without downloading."""
    fixture = load_fixture('master_babdc4f', 'iresnet50')
    model = IResNet(
        depth=50,
        init_cfg=dict(type='Pretrained', checkpoint='iresnet://iresnet50'))
    model.init_weights()
    assert drive.calls == [drive_url(OFFICIAL_MODELS['iresnet50'])]
    stages = official_outputs(model, fixture)

    cached = torch.load(cached_path('iresnet50'), weights_only=True)
    assert cached['meta']['trained_ordering'] == 'resstage'
    assert cached['meta']['official_name'] == 'iresnet50'
    logits = F.linear(stages[-1].mean((2, 3)), cached['classifier']['weight'],
                      cached['classifier']['bias'])
    # the official logits, from the official features and the served file
    served = official_format('iresnet50')
    assert served['fc.bias'].ne(0).all()  # a bias the logits must carry
    expected = fixture['stages'][-1].mean((2, 3)) @ served['fc.weight'].T + \
        served['fc.bias']
    assert rel_err(logits, expected) <= TOLERANCE
    assert rel_err(logits, fixture['logits'] + served['fc.bias']) <= TOLERANCE
    # nothing but the converted file is left in the cache
    assert cache_listing(home) == [
        'checkpoints', 'checkpoints/iresnet50_imagenet_mm.pth'
    ]

    again = IResNet(
        depth=50,
        init_cfg=dict(type='Pretrained', checkpoint='iresnet://iresnet50'))
    again.init_weights()
    assert len(drive.calls) == 1  # a cache hit
    assert again.state_dict().keys() == model.state_dict().keys()
    for a, b in zip(again.state_dict().values(), model.state_dict().values()):
        assert torch.equal(a, b)


def test_mmaction_pretrained_name_inflates_to_the_2d_features(home, drive):
    """IResNet3d(pretrained='iresnet://iresnet50', pretrained2d=True): a
    clip of identical frames gives master's 2D stage outputs."""
    fixture = load_fixture('master_babdc4f', 'iresnet50')
    model = IResNet3d(
        depth=50,
        pretrained='iresnet://iresnet50',
        pretrained2d=True,
        out_indices=(0, 1, 2, 3),
        conv1_kernel=(5, 7, 7),
        conv1_stride_t=2,
        pool1_stride_t=2,
        inflate=((1, 1, 1), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 1, 0)),
        conv_cfg=dict(type='Conv3dReplicateTime'))
    model.init_weights()
    report = model.inflation_report
    assert len(report.inflated) > 50
    assert not (report.missing or report.mismatched or report.unused)
    model.eval()
    clip = fixture['input'].unsqueeze(2).repeat(1, 1, 8, 1, 1)
    with torch.no_grad():
        stages = model(clip)
    assert len(stages) == len(fixture['stages']) == 4
    for out3d, out2d in zip(stages, fixture['stages']):
        for t in range(out3d.shape[2]):
            assert rel_err(out3d[:, :, t], out2d) <= TOLERANCE


def test_other_ordering_warns_for_an_official_name(home, drive):
    model = IResNet(
        depth=50,
        ordering='resstage_paper',
        init_cfg=dict(type='Pretrained', checkpoint='iresnet://iresnet50'))
    with pytest.warns(UserWarning, match="trained with ordering='resstage'"):
        model.init_weights()


@pytest.mark.parametrize('name, source', [('iresgroup50', 'iresgroup'),
                                          ('resstage50', 'resstage')])
def test_other_families_by_name(home, drive, name, source):
    """Each family converts with its own source and loads strictly into its
    preset, reproducing the official outputs."""
    fixture = load_fixture('master_babdc4f', name)
    checkpoint = CheckpointLoader.load_checkpoint(f'iresnet://{name}')
    assert checkpoint['meta']['src'] == source
    model = getattr(
        __import__('mm_iresnet.models', fromlist=['x']), FAMILIES[source])(
            depth=50)
    model.load_state_dict(checkpoint['state_dict'], strict=True)
    official_outputs(model, fixture)


def test_unknown_name_lists_the_valid_ones(home, drive):
    with pytest.raises(
            WeightsError,
            match='unknown official model '
            "'iresnet51'.*iresnet50, iresnet101"):
        load_official('iresnet51')
    assert drive.calls == []


@pytest.mark.parametrize('name', ['iresnet18', 'resstage34', 'iresnet1001'])
def test_unreleased_name_says_no_checkpoint_exists(home, drive, name):
    with pytest.raises(WeightsError, match='no official checkpoint exists'):
        load_official(name)
    assert drive.calls == []


def truncated(name, path):
    official_file(name, path)
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])


def html_page(name, path):
    with open(path, 'w') as f:
        f.write('<html><body>Google Drive - Quota exceeded</body></html>')


def another_model(name, path):
    official_file('iresnet101', path)  # the wrong depth for the name


@pytest.mark.parametrize('serve, reason', [
    (truncated, 'not a readable PyTorch checkpoint'),
    (html_page, 'not a readable PyTorch checkpoint'),
    (another_model, 'does not fit'),
])
def test_a_bad_download_is_removed_and_nothing_cached(home, drive, serve,
                                                      reason):
    drive.serve = serve
    with pytest.raises(WeightsError) as info:
        load_official('iresnet50')
    message = str(info.value)
    assert 'is not the official iresnet50 checkpoint' in message
    assert reason in message and 'nothing was cached' in message
    assert not osp.exists(cached_path('iresnet50'))
    assert cache_listing(home) == ['checkpoints']  # no partial file left
    # the next try downloads again and succeeds
    drive.serve = official_file
    load_official('iresnet50')
    assert len(drive.calls) == 2 and osp.isfile(cached_path('iresnet50'))


def test_offline_names_the_url_cache_and_manual_commands(home, monkeypatch):
    import gdown

    def offline(url=None, output=None, **kwargs):
        raise ConnectionError('Failed to resolve drive.google.com')

    monkeypatch.setattr(gdown, 'download', offline)
    monkeypatch.delenv('MM_IRESNET_OFFLINE')
    with pytest.raises(WeightsError) as info:
        load_official('iresnet101')
    message = str(info.value)
    url = drive_url(OFFICIAL_MODELS['iresnet101'])
    assert url in message and cached_path('iresnet101') in message
    assert 'ConnectionError: Failed to resolve' in message
    assert f'gdown "{url}" -O iresnet101.pth' in message
    assert (f'python tools/convert_checkpoint.py iresnet101.pth '
            f'{cached_path("iresnet101")} --src iresnet') in message
    assert cache_listing(home) == ['checkpoints']


def test_offline_switch_refuses_at_once(home, monkeypatch):
    """MM_IRESNET_OFFLINE=1: no download is tried; the same message."""
    import gdown

    def must_not_run(*args, **kwargs):
        raise AssertionError('downloaded although offline')

    monkeypatch.setattr(gdown, 'download', must_not_run)
    monkeypatch.setenv('MM_IRESNET_OFFLINE', '1')
    with pytest.raises(
            WeightsError,
            match='MM_IRESNET_OFFLINE is set.*'
            'tools/download_weights.py iresnet50'):
        load_official('iresnet50')
    assert cache_listing(home) == []


def corrupt_cache_file(name):
    path = cached_path(name)
    os.makedirs(osp.dirname(path))
    with open(path, 'wb') as f:
        f.write(b'not a checkpoint')
    return path


def test_a_corrupt_cache_file_is_downloaded_again(home, drive, monkeypatch):
    """The fetch reads the cached file before it counts as a hit: a corrupt
    one is removed with a warning naming it, and downloaded again."""
    import logging

    import mm_iresnet.weights as weights
    logged = []
    monkeypatch.setattr(
        weights, 'print_log', lambda message, **kwargs: logged.append(
            (message, kwargs.get('level'))))
    path = corrupt_cache_file('iresnet50')
    checkpoint = load_official('iresnet50')
    assert checkpoint['meta']['official_name'] == 'iresnet50'
    assert len(drive.calls) == 1
    assert torch.load(path, weights_only=True)['meta']['src'] == 'iresnet'
    warnings = [m for m, level in logged if level == logging.WARNING]
    assert len(warnings) == 1, logged
    assert f'the cached file {path} is not the converted iresnet50 ' \
        'checkpoint (not a readable PyTorch checkpoint: the file is ' \
        'unknown data' in warnings[0], warnings
    assert warnings[0].endswith('it was removed, to be downloaded again')


def test_a_corrupt_cache_file_offline_is_removed_and_named(
        home, drive, monkeypatch):
    """Where it cannot be downloaded again (MM_IRESNET_OFFLINE=1), the
    error names the corrupt file, which is removed."""
    import mm_iresnet.weights as weights
    logged = []
    monkeypatch.setattr(weights, 'print_log',
                        lambda message, **kwargs: logged.append(message))
    path = corrupt_cache_file('iresnet50')
    monkeypatch.setenv('MM_IRESNET_OFFLINE', '1')
    with pytest.raises(WeightsError) as info:
        load_official('iresnet50')
    assert not any('downloaded again' in m for m in logged), logged
    message = str(info.value)
    assert f'the cached file {path} is not the converted iresnet50 ' \
        'checkpoint (not a readable PyTorch checkpoint' in message, message
    assert 'it was removed, and fetching it again failed' in message
    assert 'MM_IRESNET_OFFLINE is set' in message
    assert 'tools/convert_checkpoint.py' in message
    assert not osp.exists(path) and drive.calls == []


def test_the_cached_file_is_read_once_per_load(home, drive, monkeypatch):
    """A load after a download returns the converted checkpoint without
    reading the file; a cache hit reads it once (the check and the load
    are one read)."""
    import mm_iresnet.weights as weights
    reads = []

    def counting_load(path, *args, **kwargs):
        reads.append(path)
        return safe_load(path, *args, **kwargs)

    safe_load = weights._safe_load
    monkeypatch.setattr(weights, '_safe_load', counting_load)
    first = load_official('iresnet50')
    assert reads == [] and len(drive.calls) == 1
    again = load_official('iresnet50')
    assert reads == [cached_path('iresnet50')] and len(drive.calls) == 1
    assert again['state_dict'].keys() == first['state_dict'].keys()
    assert all(
        torch.equal(again['state_dict'][k], v)
        for k, v in nonempty(first['state_dict'].items()))


def test_a_lock_held_elsewhere_ends_at_the_timeout(home, drive, monkeypatch):
    """A lock held longer than MM_IRESNET_LOCK_TIMEOUT: a WeightsError
    naming the lock file, how to remove a stale one and the variable; this
    holder (a FileLock of its own) recorded no process."""
    import time

    from filelock import FileLock
    path = cached_path('iresnet50')
    os.makedirs(osp.dirname(path))
    monkeypatch.setenv('MM_IRESNET_LOCK_TIMEOUT', '1')
    with FileLock(f'{path}.lock'):
        start = time.monotonic()
        with pytest.raises(WeightsError) as info:
            load_official('iresnet50')
        waited = time.monotonic() - start
    assert 1 <= waited < 10, waited
    message = str(info.value)
    assert f'waited 1 s for the lock {path}.lock' in message, message
    assert 'not recorded' in message and f'remove {path}.lock' in message
    assert 'MM_IRESNET_LOCK_TIMEOUT (seconds, default 3600)' in message
    assert drive.calls == [] and not osp.exists(path)
    load_official('iresnet50')  # the lock released: it downloads
    assert len(drive.calls) == 1


@pytest.mark.parametrize('value', ['soon', '0', '-5', 'nan'])
def test_a_lock_timeout_must_be_positive_seconds(home, drive, monkeypatch,
                                                 value):
    monkeypatch.setenv('MM_IRESNET_LOCK_TIMEOUT', value)
    with pytest.raises(
            WeightsError,
            match=f'MM_IRESNET_LOCK_TIMEOUT='
            f"'{value}'.*positive number"):
        load_official('iresnet50')
    assert drive.calls == []


def test_the_manual_route_fills_the_cache(home, drive, tmp_path):
    """A file converted by hand into the cache path is a cache hit (the
    commands the offline message gives)."""
    official_file('iresnet50', tmp_path / 'iresnet50.pth')
    command = [
        sys.executable, 'tools/convert_checkpoint.py',
        str(tmp_path / 'iresnet50.pth'),
        cached_path('iresnet50'), '--src', 'iresnet', '--keep-classifier'
    ]
    out = run_process(
        command, timeout=300, cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert load_official('iresnet50')['meta']['src'] == 'iresnet'
    assert drive.calls == []


def test_download_tool_lists_and_prefetches(home, drive, capsys):
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    try:
        import download_weights
    finally:
        sys.path.pop(0)
    assert download_weights.main(['--list']) == 0
    listing = capsys.readouterr().out
    assert 'iresnet50' in listing and '77.31' in listing
    line = next(t for t in listing.splitlines() if t.startswith('iresnet18 '))
    assert 'not available' in line
    assert download_weights.main(['iresnet50', 'iresnet18']) == 1
    captured = capsys.readouterr()
    assert cached_path('iresnet50') in captured.out
    assert 'no official checkpoint exists for iresnet18' in captured.err
    assert len(drive.calls) == 1
    assert download_weights.main(['--list']) == 0
    line = next(t for t in capsys.readouterr().out.splitlines()
                if t.startswith('iresnet50 '))
    assert line.endswith('yes')


@pytest.mark.parametrize('config, names', [
    ('configs/coco/faster_rcnn_iresnet50.py', ['iresnet50']),
    ('configs/coco/mask_rcnn_iresgroup50.py', ['iresgroup50']),
    ('configs/coco/faster_rcnn_iresnet101.py', ['iresnet101']),
    ('configs/kinetics400/i3d_iresnet50_32x2x1_k400.py', ['iresnet50']),
    ('configs/kinetics400/slowonly_iresnet50_8x8x1_k400.py', ['iresnet50']),
    ('configs/sthv2/tsm_iresnet50_sthv2.py', ['iresnet50']),
    ('configs/sthv2/tsn_iresnet50_sthv2.py', ['iresnet50']),
    ('configs/sthv2/i3d_iresnet50_sthv2.py', ['iresnet50']),
])
def test_fine_tuning_configs_name_official_weights(config, names):
    cfg = Config.fromfile(osp.join(ROOT, config))
    assert official_checkpoints(cfg) == names


def test_preflight_refuses_a_bad_name_before_training(home, drive):
    cfg = Config(
        dict(
            model=dict(
                backbone=dict(
                    init_cfg=dict(
                        type='Pretrained',
                        checkpoint='iresnet://iresnet34')))))
    with pytest.raises(WeightsError, match='no official checkpoint'):
        prepare_official_weights(cfg)
    cfg.model.backbone.init_cfg.checkpoint = 'iresnet://iresnet50'
    prepare_official_weights(cfg, download=False)
    assert drive.calls == []  # distributed launches fetch on rank 0 later
    prepare_official_weights(cfg)
    assert len(drive.calls) == 1 and osp.isfile(cached_path('iresnet50'))


def test_train_tool_stops_offline_before_training(home, tmp_path):
    """tools/train.py on the COCO config with no network: the weights error
    (URL, cache, manual commands) comes before any dataset is read."""
    script = textwrap.dedent(f"""
        import sys
        import gdown
        def offline(*args, **kwargs):
            raise ConnectionError('no network')
        gdown.download = offline
        sys.path.insert(0, {ROOT!r})
        from mm_iresnet.cli import train_main
        train_main(['{ROOT}/configs/coco/faster_rcnn_iresnet50.py',
                    '--work-dir', {str(tmp_path / 'work')!r},
                    '--cfg-options',
                    'train_dataloader.dataset.ann_file={ROOT}/README.md',
                    'val_dataloader.dataset.ann_file={ROOT}/README.md'])
    """)
    env = dict(os.environ, MM_IRESNET_HOME=str(home))
    env.pop('MM_IRESNET_OFFLINE')  # the script replaces the download
    proc = run_process([sys.executable, '-c', script],
                       timeout=300,
                       cwd=ROOT,
                       capture_output=True,
                       text=True,
                       env=env)
    assert proc.returncode != 0
    assert 'WeightsError' in proc.stderr and 'could not download' in \
        proc.stderr, proc.stderr[-2000:]
    assert 'tools/convert_checkpoint.py' in proc.stderr
    assert not osp.exists(tmp_path / 'work')  # the Runner never started


@pytest.mark.slow
def test_two_processes_download_once(home, tmp_path):
    """Two gloo processes load iresnet://iresgroup50 through mmengine: rank
    0 downloads, rank 1 waits and reads the cache; both get the same
    weights."""
    log = tmp_path / 'downloads.txt'
    script = textwrap.dedent(f"""
        import os, sys
        import torch, torch.distributed as dist
        sys.path.insert(0, {ROOT!r})
        from tests.test_weights import FakeDrive
        import gdown
        fake = FakeDrive()
        def download(*args, **kwargs):
            with open({str(log)!r}, 'a') as f:
                f.write(os.environ['RANK'] + '\\n')
            return fake.download(*args, **kwargs)
        gdown.download = download
        dist.init_process_group('gloo')
        import mm_iresnet
        from mmengine.runner import CheckpointLoader
        ckpt = CheckpointLoader.load_checkpoint('iresnet://iresgroup50')
        total = sum(v.double().sum() for v in ckpt['state_dict'].values())
        print('TOTAL', os.environ['RANK'], float(total))
        dist.destroy_process_group()
    """)
    env = dict(
        os.environ,
        MM_IRESNET_HOME=str(home),
        WORLD_SIZE='2',
        MASTER_ADDR='127.0.0.1',
        MASTER_PORT=str(free_port()))
    env.pop('MM_IRESNET_OFFLINE')  # the script replaces the download
    procs = [
        popen_group([sys.executable, '-c', script],
                    cwd=ROOT,
                    env=dict(env, RANK=str(r)),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True) for r in (0, 1)
    ]
    try:
        outs = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            kill_group(p)
    assert len(outs) == len(procs) == 2
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-2000:]
    assert log.read_text().split() == ['0']  # exactly one download
    totals = {
        line.split()[2]
        for out, _ in outs
        for line in out.splitlines() if line.startswith('TOTAL')
    }
    assert len(totals) == 1


def test_the_fake_takes_only_what_gdown_takes(drive):
    """The fake is bound to the installed gdown.download's signature: an
    argument gdown does not take fails (so the calls the tests see are
    calls gdown accepts)."""
    url = drive_url(OFFICIAL_MODELS['iresnet50'])
    with pytest.raises(TypeError):
        drive.download(url=url, output='x.pth', checksum_md5='0')
    assert drive.calls == []


@pytest.mark.parametrize('serve', [legacy_file, data_parallel_file])
def test_legacy_and_data_parallel_files_load_by_name(home, drive, serve):
    """The 2020 files: the legacy (non-zip) format and a DataParallel
    ``module.`` prefix convert and reproduce the official outputs."""
    drive.serve = serve
    fixture = load_fixture('master_babdc4f', 'iresnet50')
    model = IResNet(
        depth=50,
        init_cfg=dict(type='Pretrained', checkpoint='iresnet://iresnet50'))
    model.init_weights()
    official_outputs(model, fixture)
    classifier = torch.load(
        cached_path('iresnet50'), weights_only=True)['classifier']
    assert torch.equal(classifier['bias'],
                       official_format('iresnet50')['fc.bias'])


def test_only_a_bad_cache_file_is_replaced(home, drive, monkeypatch):
    """A cached file converted from another family is replaced by a
    download; a wrong map_location or a read error leaves a good file and
    says so; a bad file another process removed first is no second
    error."""
    import mm_iresnet.weights as weights
    path = cached_path('iresnet50')
    load_official('iresnet50')
    with pytest.raises(
            WeightsError,
            match='is good and was kept.*'
            "map_location='no_such_device'"):
        load_official('iresnet50', map_location='no_such_device')
    assert osp.isfile(path)

    def unreadable(file, *args, **kwargs):
        raise PermissionError(13, 'Permission denied', file)

    with monkeypatch.context() as m:
        m.setattr(weights, '_safe_load', unreadable)
        with pytest.raises(
                WeightsError, match='PermissionError.*left in '
                'place'):
            load_official('iresnet50')
    assert osp.isfile(path)

    def removed_meanwhile(file, *args, **kwargs):
        os.remove(file)
        raise CheckpointError(f'{file}: not a readable PyTorch checkpoint')

    with monkeypatch.context() as m:
        m.setattr(weights, '_safe_load', removed_meanwhile)
        assert load_official('iresnet50')['meta']['src'] == 'iresnet'
    assert osp.isfile(path) and len(drive.calls) == 2  # downloaded again

    other = torch.load(path, weights_only=True)
    other['meta']['src'] = 'resstage'
    torch.save(other, path)
    monkeypatch.setenv('MM_IRESNET_OFFLINE', '1')
    with pytest.raises(
            WeightsError, match="converted from 'resstage'.*it "
            'was removed'):
        load_official('iresnet50')
    assert not osp.exists(path) and len(drive.calls) == 2
    other['meta']['src'] = 'resstage'
    torch.save(other, path)
    monkeypatch.delenv('MM_IRESNET_OFFLINE')
    assert load_official('iresnet50')['meta']['src'] == 'iresnet'
    assert torch.load(path, weights_only=True)['meta']['src'] == 'iresnet'
    assert len(drive.calls) == 3
