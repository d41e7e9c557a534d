"""docs/recipes.md, run: every block marked ``<!-- recipe: NAME -->`` is
executed with bash as written, on generated data, so a recipe cannot rot.

What the test changes, and nothing else:

* the variables that name the data (``COCO=``, ``MMACTION2=``, ``ADE=``,
  ``DETS=``) point at generated sets in the layouts the recipes name: the
  shapes set as COCO 2017, and with label maps as the ADE20K release; the
  stick figures as COCO 2017 person keypoints, with person detections in
  the format of mmpose's detection file; moving-shapes clips as
  Kinetics-400 videos and annotations as mmaction2's download scripts leave
  them (class folders with spaces, no lists yet) and as the SSv2 release (WebM
  videos in a split archive, the label files), which the recipes' own steps,
  mmaction2's scripts copied from its wheel, extract and list; and ``GPUS=8``
  becomes ``GPUS=1`` (one process, over gloo);
* each launch (``tools/dist_train.sh``, ``dist_test.sh``, ``slurm_train.sh``)
  gets one more ``--cfg-options`` with tiny sizes: small images and clips, one
  epoch of one iteration, no dataloader workers;
* the official weights are an official-format file (the fixtures' recipe)
  put in a cache of the test's own, as the manual route of docs/weights.md
  does, since nothing here touches the network;
* ``srun`` is a stand-in that records the command it is given.

The COCO recipe runs without mmaction2 importable, as in a detection-only
environment: every Python process of its jobs finds no mmaction (as if not
installed) and says so in the log (``HIDDEN``).
"""
import json
import os
import os.path as osp
import re
import shlex
import sys

import pytest
import torch

from .fixtures.official.make_fixtures import official_state_dict
from .helpers import free_port, load_fixture, nonempty, run_process

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
RECIPES = osp.join(ROOT, 'docs', 'recipes.md')
LAUNCH = re.compile(r'tools/(dist_train|dist_test|slurm_train)\.sh')
#: lines a recipe block may not hold: the test could not run them offline
NETWORK = ('git clone', 'pip install')
#: what each Python process started with mmaction2 hidden prints first,
#: before the name of its script
HIDDEN = 'mmaction2 hidden: import mmaction refused in '
#: hides mmaction2 from every Python process that finds it on PYTHONPATH,
#: as if it were not installed (importlib.util.find_spec('mmaction') is
#: None); checks the import is refused and says so, naming the script
NO_MMACTION = f"""import importlib.util
import os.path
import sys

sys.modules['mmaction'] = None  # as if not installed
assert importlib.util.find_spec('mmaction') is None
try:
    import mmaction  # noqa: F401
except ImportError:
    sys.stderr.write({HIDDEN!r} + os.path.basename(sys.argv[0]) + '\\n')
else:
    raise SystemExit('mmaction2 is importable: hiding it failed')
"""


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
        options += [
            f'{loader}.num_workers=0', f'{loader}.persistent_workers=False',
            f'{loader}.batch_size={batch}'
        ]
        options += [
            f'{loader}.dataset.pipeline.{k}={v}' for k, v in changes.items()
        ]
    return options


COCO_OPTIONS = loader_options({
    'train': {
        '2.scale': '(128,128)'
    },
    'val': {
        '1.scale': '(128,128)'
    },
    'test': {
        '1.scale': '(128,128)'
    },
})
VIDEO_SIZES = {'3.scale': '(-1,72)'}
I3D_OPTIONS = loader_options({
    'train':
    dict(VIDEO_SIZES, **{
        '1.clip_len': 8,
        '4.input_size': 64,
        '5.scale': '(64,64)'
    }),
    'val':
    dict(VIDEO_SIZES, **{
        '1.clip_len': 8,
        '4.crop_size': 64
    }),
    'test':
    dict(VIDEO_SIZES, **{
        '1.clip_len': 8,
        '1.num_clips': 1,
        '4.crop_size': 72
    }),  # ThreeCrop: a side
})
TSM_OPTIONS = loader_options({
    'train':
    dict(VIDEO_SIZES, **{
        '4.input_size': 64,
        '5.scale': '(64,64)'
    }),
    'val':
    dict(VIDEO_SIZES, **{'4.crop_size': 64}),
    'test':
    dict(VIDEO_SIZES, **{'4.crop_size': 72}),
})

#: mmseg's iteration-based ADE20K schedule, one iteration, small crops
ADE_OPTIONS = [
    'train_cfg.max_iters=1', 'train_cfg.val_interval=1',
    'default_hooks.checkpoint.interval=1',
    'model.data_preprocessor.size=(64,64)'
] + [
    option for phase, changes in (('train', {
        '2.scale': '(128,64)',
        '3.crop_size': '(64,64)'
    }), ('val', {
        '1.scale': '(128,64)'
    }), ('test', {
        '1.scale': '(128,64)'
    })) for option in [
        f'{phase}_dataloader.num_workers=0',
        f'{phase}_dataloader.persistent_workers=False'
    ] + [
        f'{phase}_dataloader.dataset.pipeline.{k}={v}'
        for k, v in changes.items()
    ]
]

#: mmpose's epoch-based COCO keypoints schedule: one epoch of one iteration
#: at the config's own 256x192 crops, validated
POSE_OPTIONS = ['train_cfg.val_interval=1'] + loader_options(
    dict(train={}, val={}, test={}))

# ------------------------------------------------------------ generated data


def coco_2017_images(source, coco):
    """``coco``, a COCO 2017 folder: {train,val}2017/ linked to the
    generated set's split folders in ``source``, and annotations/ for the
    caller to fill."""
    (coco / 'annotations').mkdir(parents=True)
    for split in ('train', 'val'):
        os.symlink(osp.join(source, split), coco / f'{split}2017')
    return coco


def coco_layout(folder):
    """The shapes set in COCO 2017's layout: {train,val}2017/ and
    annotations/instances_{train,val}2017.json, its four shape classes named
    as COCO's first four, so mmdet's COCO config reads them unchanged."""
    from mm_iresnet.datasets.shapes import write_shapes_coco
    shapes = str(folder / 'shapes')
    write_shapes_coco(shapes, num_train=2, num_val=2, image_size=96, seed=7)
    coco = coco_2017_images(shapes, folder / 'coco')
    for split in ('train', 'val'):
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


def ade_layout(folder):
    """The shapes segmentation set in the ADE20K release's layout:
    images/{training,validation}/ADE_*.jpg and annotations/.../ADE_*.png,
    0 where no class is (mmseg's reduce_zero_label ignores it) and the four
    shapes as ADE's first four classes."""
    import cv2

    from mm_iresnet.datasets.shapes import write_shapes_seg
    shapes = write_shapes_seg(
        str(folder / 'shapes_seg'),
        num_train=2,
        num_val=2,
        image_size=96,
        seed=7)
    ade = folder / 'ADEChallengeData2016'
    for split, release in (('train', 'training'), ('val', 'validation')):
        for kind, out in (('img_dir', 'images'), ('ann_dir', 'annotations')):
            (ade / out / release).mkdir(parents=True)
            for name in sorted(os.listdir(osp.join(shapes, kind, split))):
                stem = f'ADE_{split}_{int(name[:-4]):08d}'
                pixels = cv2.imread(
                    osp.join(shapes, kind, split, name), cv2.IMREAD_UNCHANGED)
                suffix = '.jpg' if kind == 'img_dir' else '.png'
                assert cv2.imwrite(
                    str(ade / out / release / (stem + suffix)), pixels)
    return ade


def keypoints_layout(folder):
    """The figures set in COCO 2017's keypoint layout: {train,val}2017/
    and annotations/person_keypoints_{train,val}2017.json; and a person
    detections file for val2017 as mmpose's recipe reads it (a list of
    image_id, category_id, bbox as xywh, score): each figure's
    ground-truth box moved by a pixel, one more person box on the first
    image, and a box of another category, which mmpose drops. Returns the
    layout, the file and the number of person boxes in it."""
    from mm_iresnet.datasets.figures import write_figures_coco
    figures = str(folder / 'figures')
    write_figures_coco(figures, num_train=2, num_val=2, image_size=96, seed=7)
    coco = coco_2017_images(figures, folder / 'coco_keypoints')
    for split in ('train', 'val'):
        os.symlink(
            osp.join(figures, 'annotations', f'person_keypoints_{split}.json'),
            coco / 'annotations' / f'person_keypoints_{split}2017.json')
    val = json.load(
        open(osp.join(figures, 'annotations', 'person_keypoints_val.json')))
    dets = [
        dict(
            image_id=ann['image_id'],
            category_id=1,
            bbox=[ann['bbox'][0] + 1, ann['bbox'][1] - 1] + ann['bbox'][2:],
            score=0.9) for ann in val['annotations']
    ] + [
        dict(image_id=1, category_id=1, bbox=[4, 4, 40, 60], score=0.3),
        dict(image_id=1, category_id=2, bbox=[0, 0, 9, 9], score=0.5)
    ]
    path = folder / 'COCO_val2017_detections_person.json'
    path.write_text(json.dumps(dets))
    return coco, path, len(val['annotations']) + 1


#: the moving-shapes labels, as class names with a space (Kinetics' have them)
MOTIONS = ('moving left', 'moving right', 'moving up', 'moving down',
           'moving closer', 'moving away')


def write_clip(path, label, seed):
    """A moving-shapes clip as a video: MPEG-4 in .mp4, VP8 in .webm (as
    SSv2's release), both read by decord."""
    import cv2

    from mm_iresnet.datasets.moving_shapes import draw_moving_clip
    os.makedirs(osp.dirname(path), exist_ok=True)
    fourcc = 'VP80' if path.endswith('.webm') else 'mp4v'
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), 8,
                             (64, 64))
    for frame in draw_moving_clip(seed, label, 12, 64):
        writer.write(frame)
    writer.release()
    assert osp.getsize(path) > 0, path


def kinetics_download(prep):
    """What mmaction2's ``download_annotations.sh`` and ``download.py``
    leave in an mmaction2 folder: ``data/kinetics400/annotations/
    kinetics_{train,val,test}.csv`` and ``videos_{train,val}/<class>/
    <youtube id>_<start>_<end>.mp4``, class folders named with spaces."""
    root = prep / 'data' / 'kinetics400'
    (root / 'annotations').mkdir(parents=True)
    for split, n in (('train', 2), ('val', 2), ('test', 1)):
        rows = ['label,youtube_id,time_start,time_end,split,is_cc']
        for i in range(n):
            label = i % 2
            youtube_id = f'{split}{i}'.ljust(11, 'x')
            rows.append(f'{MOTIONS[label]},{youtube_id},0,10,{split},0')
            if split != 'test':
                write_clip(
                    str(root / f'videos_{split}' / MOTIONS[label] /
                        f'{youtube_id}_000000_000010.mp4'), label, 3 + i)
        (root / 'annotations' /
         f'kinetics_{split}.csv').write_text('\n'.join(rows) + '\n')
    return root


def sthv2_release(prep):
    """What SSv2's site gives, put where the recipe says: the archive's
    parts ``20bn-something-something-v2-??`` (one folder of ``<id>.webm``)
    in ``data/sthv2/`` and the label files in ``data/sthv2/annotations/``."""
    import tarfile
    root = prep / 'data' / 'sthv2'
    (root / 'annotations').mkdir(parents=True)
    release = prep / 'release' / '20bn-something-something-v2'
    items = {'train': [], 'validation': []}
    for i in range(1, 5):
        split = 'train' if i <= 2 else 'validation'
        label = i % 6
        write_clip(str(release / f'{i}.webm'), label, 11 + i)
        items[split].append(
            dict(
                id=str(i),
                label=MOTIONS[label].replace('moving', 'moving a box'),
                template=MOTIONS[label].replace('moving',
                                                'moving [something]'),
                placeholders=['a box']))
    labels = {
        m.replace('moving', 'moving something'): str(k)
        for k, m in enumerate(MOTIONS)
    }
    for name, content in (('labels', labels), ('train', items['train']),
                          ('validation',
                           items['validation']), ('test', [dict(id='5')])):
        with open(root / 'annotations' / f'something-something-v2-{name}.json',
                  'w') as f:
            json.dump(content, f)
    archive = prep / 'release' / 'sthv2.tar.gz'
    with tarfile.open(archive, 'w:gz') as tar:
        tar.add(release, arcname=release.name)
    data = archive.read_bytes()
    half = len(data) // 2
    for k, part in enumerate((data[:half], data[half:])):
        (root / f'20bn-something-something-v2-{k:02d}').write_bytes(part)
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
    raw = official_state_dict(
        load_fixture('master_babdc4f', 'iresnet50')['keys'])
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
    (no_mmaction / 'sitecustomize.py').write_text(NO_MMACTION)
    return dict(
        tmp=tmp, work=work, home=home, bin=bin_dir, no_mmaction=no_mmaction)


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
    env = dict(
        os.environ,
        PATH=os.pathsep.join(path),
        MM_IRESNET_HOME=str(ws['home']),
        MM_IRESNET_OFFLINE='1',
        PORT=str(free_port()),
        PYTHONWARNINGS='ignore',
        SRUN_LOG=str(ws['tmp'] / 'srun.log'),
        OMP_NUM_THREADS='1')
    env['PYTHONPATH'] = str(ws['no_mmaction']) if hide_mmaction else ''
    # inside the suite's per-test timeout (pyproject.toml); a block takes
    # about a minute on a 2-core CPU
    proc = run_process(['bash', '-c', script],
                       timeout=500,
                       cwd=ws['work'],
                       env=env,
                       capture_output=True,
                       text=True)
    return proc, proc.stdout + proc.stderr


def test_recipes_parse_and_keep_their_contract():
    """Every tested block is there, holds nothing that needs the network,
    and the COCO data-root options name the keys mmdet's config holds."""
    blocks = recipe_blocks()
    assert set(blocks) == {
        'coco-setup', 'coco-link', 'coco-weights', 'coco-train',
        'coco-elsewhere', 'slurm', 'mmaction2-tools', 'k400-lists', 'k400',
        'sthv2-data', 'sthv2', 'onnx', 'ade-setup', 'ade-data', 'ade-train',
        'pose-setup', 'pose-data', 'pose-train'
    }
    for block in blocks.values():
        assert not any(
            line.startswith(NETWORK) for line in nonempty(block.splitlines()))
    # a work dir per config: WORK follows CONFIG, so two configs never
    # share a work dir and its last_checkpoint
    for name in ('coco-setup', 'k400', 'sthv2', 'ade-setup', 'pose-setup'):
        lines = blocks[name].splitlines()
        config = [
            i for i, line in enumerate(lines) if line.startswith('CONFIG=')
        ]
        work = [i for i, line in enumerate(lines) if line.startswith('WORK=')]
        assert len(config) == len(work) == 1 and config[0] < work[0], name
        assert lines[work[0]].split('#')[0].strip() == \
            'WORK=work_dirs/$(basename $CONFIG .py)', name
    options = re.search(r'DATA="(.*)"', blocks['coco-elsewhere']).group(1)
    keys = sorted(o.split('=')[0] for o in options.split())
    assert keys == sorted([
        f'{p}_dataloader.dataset.data_root' for p in ('train', 'val', 'test')
    ] + ['val_evaluator.ann_file', 'test_evaluator.ann_file'])


@pytest.mark.slow
def test_coco_recipe_without_mmaction(workspace):
    """Clone-to-test on COCO: the link and the data-root options, weights
    from the cache, dist_train and dist_test (one process), with mmaction2
    hidden."""
    coco = coco_layout(workspace['tmp'])
    proc, log = run_blocks(
        workspace, [
            'coco-setup', 'coco-weights', 'coco-elsewhere', 'coco-link',
            'coco-train'
        ],
        dict(COCO=coco),
        COCO_OPTIONS,
        hide_mmaction=True)
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
    # every training and test process ran with mmaction2 hidden (one
    # process each: GPUS=1), and no refused import shows in the log
    assert log.count(HIDDEN + 'train.py\n') == 2, log[-4000:]
    assert log.count(HIDDEN + 'test.py\n') == 2, log[-4000:]
    assert 'import of mmaction halted' not in log, log[-4000:]


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
    assert command[3:6] == [
        'configs/coco/faster_rcnn_iresnet50.py',
        '--work-dir=work_dirs/faster_rcnn_iresnet50', '--launcher=slurm'
    ]
    assert set(COCO_OPTIONS) <= set(command)  # train.py's own options pass
    assert test[test.index('bash'):][1:3] == [
        'tools/dist_test.sh', 'configs/coco/faster_rcnn_iresnet50.py'
    ]


def read_list(path):
    return sorted(line.split() for line in open(path).read().splitlines())


@pytest.mark.slow
def test_kinetics_recipe(workspace):
    """mmaction2's scripts from its wheel rename the class folders and
    write the lists; then I3D trains and tests on them."""
    prep = workspace['tmp'] / 'k400_mmaction2'
    root = kinetics_download(prep)
    proc, log = run_blocks(workspace,
                           ['mmaction2-tools', 'k400-lists', 'k400'],
                           dict(MMACTION2=prep), I3D_OPTIONS)
    assert proc.returncode == 0, log[-4000:]
    assert (prep / 'tools' / 'data' / 'kinetics' /
            'generate_videos_filelist.sh').exists()
    assert sorted(os.listdir(
        root / 'videos_train')) == ['moving_left', 'moving_right']
    # class indices: the sorted class names of the training annotations
    assert read_list(root / 'kinetics400_train_list_videos.txt') == [[
        'moving_left/train0xxxxx_000000_000010.mp4', '0'
    ], ['moving_right/train1xxxxx_000000_000010.mp4', '1']]
    assert 'Epoch(train) [1][1/1]' in log and 'acc/top1' in log
    assert 'Epoch(test) [' in log
    assert osp.realpath(workspace['work'] / 'data' / 'kinetics400') == \
        str(root)
    assert (workspace['work'] / 'work_dirs' / 'i3d_iresnet50_32x2x1_k400' /
            'last_checkpoint').exists()


@pytest.fixture(scope='module')
def sthv2_trained(workspace):
    prep = workspace['tmp'] / 'sthv2_mmaction2'
    root = sthv2_release(prep)
    return prep, root, run_blocks(workspace,
                                  ['mmaction2-tools', 'sthv2-data', 'sthv2'],
                                  dict(MMACTION2=prep), TSM_OPTIONS)


@pytest.mark.slow
def test_sthv2_tsm_recipe(sthv2_trained):
    """The archive extracted as videos/, WebM as released, listed by
    mmaction2's script; TSM trains and tests on the WebM files."""
    _, root, (proc, log) = sthv2_trained
    assert proc.returncode == 0, log[-4000:]
    assert sorted(os.listdir(root /
                             'videos')) == [f'{i}.webm' for i in range(1, 5)]
    labels = {str(i): str(i % 6) for i in range(1, 5)}
    for split, ids in (('train', '12'), ('val', '34')):
        assert read_list(root / f'sthv2_{split}_list_videos.txt') == [
            [f'{i}.webm', labels[i]] for i in ids
        ]
    assert 'Epoch(train) [1][1/1]' in log and 'acc/top1' in log
    assert 'Epoch(test) [' in log


@pytest.mark.slow
def test_onnx_recipe(workspace, sthv2_trained):
    """Export the trained TSM and classify a video with onnxruntime."""
    prep, _, (trained, _) = sthv2_trained
    assert trained.returncode == 0
    proc, log = run_blocks(
        workspace, ['onnx'],
        dict(MMACTION2=prep), [],
        keep=['mmaction2-tools', 'sthv2'])
    assert proc.returncode == 0, log[-4000:]
    assert (workspace['work'] / 'tsm.onnx').exists()
    # the video is the first of the validation list: a WebM, as released
    assert re.search(r'VIDEO=data/sthv2/videos/[34]\.webm\n', log), log[-4000:]
    top5 = re.search(r'top-5 classes: \[([\d, ]+)\]', log)
    assert top5 and len(top5.group(1).split(',')) == 5


@pytest.mark.slow
def test_ade20k_recipe(workspace):
    """ADE20K: the link, the weights from the cache, UPerNet iResNet-50
    (full width, SyncBN over one process) trained and tested on the
    release's layout, mmseg's IoUMetric on the validation images."""
    pytest.importorskip('mmseg')
    ade = ade_layout(workspace['tmp'])
    proc, log = run_blocks(workspace, ['ade-setup', 'ade-data', 'ade-train'],
                           dict(ADE=ade), ADE_OPTIONS)
    assert proc.returncode == 0, log[-4000:]
    assert 'iresnet50_imagenet_mm.pth' in log  # the prefetch found the cache
    assert 'Iter(train) [1/1]' in log, log[-4000:]
    # validation after the iteration, then the test: mmseg's IoU table
    assert log.count('mIoU') >= 2, log[-4000:]
    assert 'Iter(test) [2/2]' in log, log[-4000:]
    assert osp.realpath(workspace['work'] / 'data' / 'ade' /
                        'ADEChallengeData2016') == str(ade)
    work = workspace['work'] / 'work_dirs' / \
        'upernet_iresnet50_4xb4-80k_ade20k-512x512'
    assert (work / 'iter_1.pth').exists()


@pytest.mark.slow
def test_coco_keypoints_recipe(workspace):
    """COCO keypoints: the link, the weights from the cache, SimpleBaseline
    iResNet-50 (full width, 256x192) trained, validated and tested on the
    person detections given on the command line, mmpose's CocoMetric."""
    pytest.importorskip('mmpose')
    coco, dets, boxes = keypoints_layout(workspace['tmp'])
    proc, log = run_blocks(workspace,
                           ['pose-setup', 'pose-data', 'pose-train'],
                           dict(COCO=coco, DETS=dets), POSE_OPTIONS)
    assert proc.returncode == 0, log[-4000:]
    assert 'iresnet50_imagenet_mm.pth' in log  # the prefetch found the cache
    assert 'Epoch(train) [1][1/1]' in log, log[-4000:]
    # validation and test read the detected people (3 boxes in batches of
    # 2), not the 2 annotated ones (1 batch)
    batches = -(-boxes // 2)
    assert batches == 2
    assert f'Epoch(val) [1][{batches}/{batches}]' in log, log[-4000:]
    assert f'Epoch(test) [{batches}/{batches}]' in log, log[-4000:]
    assert log.count('coco/AP:') >= 2, log[-4000:]  # validation and test
    assert osp.realpath(workspace['work'] / 'data' / 'coco') == str(coco)
    work = workspace['work'] / 'work_dirs' / \
        'td-hm_iresnet50_8xb64-210e_coco-256x192'
    assert (work / 'epoch_1.pth').exists()
