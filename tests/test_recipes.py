"""docs/recipes.md, run: every block marked ``<!-- recipe: NAME -->`` is
executed with bash as written, on generated data, so a recipe cannot rot.

What the test changes, and nothing else:

* the variables that name the data (``COCO=``, ``K400=``, ``SSV2=``) point at
  generated sets in the layouts the recipes name (the shapes set as COCO
  2017, moving-shapes clips as Kinetics-400 / SSv2 videos), and ``GPUS=8``
  becomes ``GPUS=1`` (one process, over gloo);
* each launch (``tools/dist_train.sh``, ``dist_test.sh``, ``slurm_train.sh``)
  gets one more ``--cfg-options`` with tiny sizes: small images and clips, one
  epoch of one iteration, no dataloader workers;
* the official weights are an official-format file (the fixtures' recipe)
  put in a cache of the test's own, as the manual route of docs/weights.md
  does, since nothing here touches the network;
* ``srun`` is a stand-in that records the command it is given.

The COCO recipe runs without mmaction2 importable, as in a detection-only
environment.
"""
import json
import os
import os.path as osp
import re
import shlex
import subprocess
import sys

import pytest
import torch

from .fixtures.official.make_fixtures import official_state_dict
from .helpers import free_port, load_fixture

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
RECIPES = osp.join(ROOT, 'docs', 'recipes.md')
LAUNCH = re.compile(r'tools/(dist_train|dist_test|slurm_train)\.sh')
#: lines a recipe block may not hold: the test could not run them offline
NETWORK = ('git clone', 'pip install')


def recipe_blocks(path=RECIPES):
    """{name: bash text} of every ``<!-- recipe: NAME -->`` block."""
    text = open(path).read()
    found = re.findall(r'<!-- recipe: (\S+) -->\n```bash\n(.*?)```', text,
                       re.DOTALL)
    assert len(found) == text.count('<!-- recipe:'), 'a marker without block'
    return dict(found)


def adapted(block, data, extra):
    """The block with the data variables and GPU count replaced and
    ``extra`` options added to each launch."""
    lines = []
    for line in block.splitlines():
        assert not line.startswith(NETWORK), line
        for var, value in data.items():
            line = re.sub(rf'^{var}=\S+', f'{var}={value}', line)
        line = re.sub(r'^GPUS=8\b', 'GPUS=1', line)
        if LAUNCH.search(line):
            line += ' --cfg-options ' + ' '.join(map(shlex.quote, extra))
        lines.append(line)
    return '\n'.join(lines) + '\n'


def loader_options(pipelines, batch=2):
    """Tiny dataloaders: ``pipelines`` maps 'train'/'val'/'test' to
    {'INDEX.KEY': value} overrides of that dataset's pipeline."""
    options = ['train_cfg.max_epochs=1']
    for phase, changes in pipelines.items():
        loader = f'{phase}_dataloader'
        options += [f'{loader}.num_workers=0',
                    f'{loader}.persistent_workers=False',
                    f'{loader}.batch_size={batch}']
        options += [f'{loader}.dataset.pipeline.{k}={v}'
                    for k, v in changes.items()]
    return options


COCO_OPTIONS = loader_options({
    'train': {'2.scale': '(128,128)'},
    'val': {'1.scale': '(128,128)'},
    'test': {'1.scale': '(128,128)'},
})
VIDEO_SIZES = {'3.scale': '(-1,72)'}
I3D_OPTIONS = loader_options({
    'train': dict(VIDEO_SIZES, **{'1.clip_len': 8, '4.input_size': 64,
                                  '5.scale': '(64,64)'}),
    'val': dict(VIDEO_SIZES, **{'1.clip_len': 8, '4.crop_size': 64}),
    'test': dict(VIDEO_SIZES, **{'1.clip_len': 8, '1.num_clips': 1,
                                 '4.crop_size': 72}),  # ThreeCrop: a side
})
TSM_OPTIONS = loader_options({
    'train': dict(VIDEO_SIZES, **{'4.input_size': 64, '5.scale': '(64,64)'}),
    'val': dict(VIDEO_SIZES, **{'4.crop_size': 64}),
    'test': dict(VIDEO_SIZES, **{'4.crop_size': 72}),
})

# ------------------------------------------------------------ generated data


def coco_layout(folder):
    """The shapes set in COCO 2017's layout: {train,val}2017/ and
    annotations/instances_{train,val}2017.json, its four shape classes named
    as COCO's first four, so mmdet's COCO config reads them unchanged."""
    from mm_iresnet.datasets.shapes import write_shapes_coco
    shapes = str(folder / 'shapes')
    write_shapes_coco(shapes, num_train=2, num_val=2, image_size=96, seed=7)
    coco = folder / 'coco'
    (coco / 'annotations').mkdir(parents=True)
    for split in ('train', 'val'):
        os.symlink(osp.join(shapes, split), coco / f'{split}2017')
        ann = json.load(open(osp.join(shapes, 'annotations', f'{split}.json')))
        for image in ann['images']:
            image['file_name'] = osp.basename(image['file_name'])
        for cat, name in zip(ann['categories'],
                             ('person', 'bicycle', 'car', 'motorcycle')):
            cat['name'] = name
        with open(coco / 'annotations' / f'instances_{split}2017.json',
                  'w') as f:
            json.dump(ann, f)
    return coco


def write_clips(folder, names, seed):
    """Moving-shapes clips as mp4 videos; returns the list lines."""
    import cv2
    from mm_iresnet.datasets.moving_shapes import draw_moving_clip
    lines = []
    for i, name in enumerate(names):
        label = i % 6
        path = osp.join(folder, name)
        os.makedirs(osp.dirname(path), exist_ok=True)
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), 8,
                                 (64, 64))
        for frame in draw_moving_clip(seed + i, label, 12, 64):
            writer.write(frame)
        writer.release()
        lines.append(f'{name} {label}')
    return lines


def write_list(path, lines):
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')


def kinetics_layout(folder):
    """mmaction2's Kinetics-400 video layout."""
    root = folder / 'kinetics400'
    for split in ('train', 'val'):
        names = [f'left/{split}{i}.mp4' for i in range(2)]
        write_list(root / f'kinetics400_{split}_list_videos.txt',
                   write_clips(str(root / f'videos_{split}'), names, 3))
    return root


def sthv2_layout(folder):
    """mmaction2's Something-Something-v2 video layout (videos named by
    number, as the real ones)."""
    root = folder / 'sthv2'
    for split, names in (('train', ['1.mp4', '2.mp4']),
                         ('val', ['3.mp4', '4.mp4'])):
        write_list(root / f'sthv2_{split}_list_videos.txt',
                   write_clips(str(root / 'videos'), names, 11))
    return root


# ------------------------------------------------------------- running


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    """A checkout-like folder (tools, configs and the package linked in),
    the weights cache, a stand-in srun and a folder that hides mmaction2."""
    tmp = tmp_path_factory.mktemp('recipes')
    work = tmp / 'repo'
    work.mkdir()
    for name in ('tools', 'configs', 'mm_iresnet'):
        os.symlink(osp.join(ROOT, name), work / name)
    home = tmp / 'home'
    cache = home / 'checkpoints'
    cache.mkdir(parents=True)
    from mm_iresnet.convert import converted_checkpoint
    raw = official_state_dict(load_fixture('master_babdc4f', 'iresnet50')
                              ['keys'])
    out, _ = converted_checkpoint(raw, 'iresnet', keep_classifier=True)
    torch.save(out, cache / 'iresnet50_imagenet_mm.pth')
    bin_dir = tmp / 'bin'
    bin_dir.mkdir()
    srun = bin_dir / 'srun'
    srun.write_text('#!/bin/sh\n'
                    f'"{sys.executable}" -c "import json, sys; '
                    'print(json.dumps(sys.argv[1:]))" "$@" >> "$SRUN_LOG"\n')
    srun.chmod(0o755)
    no_mmaction = tmp / 'no_mmaction'
    no_mmaction.mkdir()
    (no_mmaction / 'sitecustomize.py').write_text(
        "import sys\nsys.modules['mmaction'] = None  # as if not installed\n")
    return dict(tmp=tmp, work=work, home=home, bin=bin_dir,
                no_mmaction=no_mmaction)


def assignments(block):
    """The variable assignments of a block (a later block of the same
    section reads them, as a reader's shell keeps them)."""
    return '\n'.join(line for line in block.splitlines()
                     if re.match(r'^[A-Z_0-9]+=', line)) + '\n'


def run_blocks(ws, names, data, extra, hide_mmaction=False, keep=()):
    """Run the blocks ``names`` in one bash, after the variables of the
    blocks ``keep``."""
    blocks = recipe_blocks()
    script = 'set -ex\n' + ''.join(
        adapted(assignments(blocks[name]), data, extra) for name in keep) + \
        ''.join(adapted(blocks[name], data, extra) for name in names)
    path = [str(ws['bin']), osp.dirname(sys.executable), os.environ['PATH']]
    env = dict(os.environ, PATH=os.pathsep.join(path),
               MM_IRESNET_HOME=str(ws['home']), MM_IRESNET_OFFLINE='1',
               PORT=str(free_port()), PYTHONWARNINGS='ignore',
               SRUN_LOG=str(ws['tmp'] / 'srun.log'), OMP_NUM_THREADS='1')
    env['PYTHONPATH'] = str(ws['no_mmaction']) if hide_mmaction else ''
    proc = subprocess.run(['bash', '-c', script], cwd=ws['work'], env=env,
                          capture_output=True, text=True, timeout=900)
    return proc, proc.stdout + proc.stderr


def test_recipes_parse_and_keep_their_contract():
    """Every tested block is there, holds nothing that needs the network,
    and the COCO data-root options name the keys mmdet's config holds."""
    blocks = recipe_blocks()
    assert set(blocks) == {'coco-setup', 'coco-link', 'coco-weights',
                           'coco-train', 'coco-elsewhere', 'slurm', 'k400',
                           'sthv2', 'onnx'}
    for block in blocks.values():
        assert not any(line.startswith(NETWORK)
                       for line in block.splitlines())
    options = re.search(r'DATA="(.*)"', blocks['coco-elsewhere']).group(1)
    keys = sorted(o.split('=')[0] for o in options.split())
    assert keys == sorted(
        [f'{p}_dataloader.dataset.data_root' for p in ('train', 'val', 'test')]
        + ['val_evaluator.ann_file', 'test_evaluator.ann_file'])


@pytest.mark.slow
def test_coco_recipe_without_mmaction(workspace):
    """Clone-to-test on COCO: the link and the data-root options, weights
    from the cache, dist_train and dist_test (one process), with mmaction2
    hidden."""
    coco = coco_layout(workspace['tmp'])
    proc, log = run_blocks(
        workspace, ['coco-setup', 'coco-weights', 'coco-elsewhere',
                    'coco-link', 'coco-train'],
        dict(COCO=coco), COCO_OPTIONS, hide_mmaction=True)
    assert proc.returncode == 0, log[-4000:]
    assert 'iresnet50_imagenet_mm.pth' in log  # the prefetch found the cache
    # two trainings and two tests, each evaluating against the annotation
    # file the options or the link give (after one step a detector may have
    # no box to score yet)
    assert log.count('Epoch(train) [1][1/1]') == 2, log[-4000:]
    assert log.count('Epoch(test) [1/1]') == 2, log[-4000:]
    assert log.count('Evaluating bbox...') == 4, log[-4000:]
    assert osp.islink(workspace['work'] / 'data' / 'coco')
    work = workspace['work'] / 'work_dirs' / 'faster_rcnn_iresnet50'
    assert (work / 'epoch_1.pth').exists()
    assert "No module named 'mmaction'" not in log


@pytest.mark.slow
def test_slurm_recipe_gives_srun_the_job(workspace):
    """SLURM: the training job and the test job srun receives (no SLURM and
    no GPU here: srun is a stand-in that records its command)."""
    log_file = workspace['tmp'] / 'srun.log'
    proc, log = run_blocks(workspace, ['coco-setup', 'slurm'],
                           dict(COCO='/unused'), COCO_OPTIONS)
    assert proc.returncode == 0, log[-3000:]
    train, test = [json.loads(line) for line in open(log_file)]
    # GPUS=8 became 1 here: one task, on a node of 8 GPUs
    assert train[:2] == ['-p', 'gpu'] and '--ntasks=1' in train
    assert '--gres=gpu:8' in train and '--ntasks-per-node=8' in train
    command = train[train.index('python'):]
    assert command[2].endswith('tools/train.py')
    assert command[3:6] == ['configs/coco/faster_rcnn_iresnet50.py',
                            '--work-dir=work_dirs/faster_rcnn_iresnet50',
                            '--launcher=slurm']
    assert set(COCO_OPTIONS) <= set(command)  # train.py's own options pass
    assert test[test.index('bash'):][1:3] == [
        'tools/dist_test.sh', 'configs/coco/faster_rcnn_iresnet50.py']


@pytest.mark.slow
def test_kinetics_recipe(workspace):
    root = kinetics_layout(workspace['tmp'])
    proc, log = run_blocks(workspace, ['k400'], dict(K400=root),
                           I3D_OPTIONS)
    assert proc.returncode == 0, log[-4000:]
    assert 'Epoch(train) [1][1/1]' in log and 'acc/top1' in log
    assert 'Epoch(test) [' in log
    assert osp.realpath(workspace['work'] / 'data' / 'kinetics400') == \
        str(root)


@pytest.fixture(scope='module')
def sthv2_trained(workspace):
    root = sthv2_layout(workspace['tmp'])
    return root, run_blocks(workspace, ['sthv2'], dict(SSV2=root),
                            TSM_OPTIONS)


@pytest.mark.slow
def test_sthv2_tsm_recipe(sthv2_trained):
    _, (proc, log) = sthv2_trained
    assert proc.returncode == 0, log[-4000:]
    assert 'Epoch(train) [1][1/1]' in log and 'acc/top1' in log
    assert 'Epoch(test) [' in log


@pytest.mark.slow
def test_onnx_recipe(workspace, sthv2_trained):
    """Export the trained TSM and classify a video with onnxruntime."""
    root, (trained, _) = sthv2_trained
    assert trained.returncode == 0
    proc, log = run_blocks(workspace, ['onnx'], dict(SSV2=root), [],
                           keep=['sthv2'])
    assert proc.returncode == 0, log[-4000:]
    assert (workspace['work'] / 'tsm.onnx').exists()
    top5 = re.search(r'top-5 classes: \[([\d, ]+)\]', log)
    assert top5 and len(top5.group(1).split(',')) == 5
