"""Every ResNet-family config of mmsegmentation's and mmpose's installed zoo
works with its backbone type swapped for the iResNet counterpart: the
whole model (decode and auxiliary heads, keypoint head) runs a loss step
with backward on a tiny batch of the config's own shape, beside the same
step with the original type (the control).

The configs are grouped by model (tests/segpose_zoo.py: the model dict
less the data preprocessor, test settings and weights, SyncBN read as
BN, and the input) and one step stands for each group. The steps run at
an eighth of the widths (depth, strides, dilations, classes, keypoints and
codecs kept, control and swap alike): at full width the 318 groups would
take over 20 minutes on a 2-core CPU. The whole-width backbone of every
config is built on the meta device, control and swap, and compared.
"""
from collections import Counter

import pytest
import torch

from .helpers import nonempty, run_control
from .segpose_zoo import (SWAPS, family_zoo, group_key, loss_step, meta_build,
                          model_of, narrowed, pose_batch, rel, seg_batch,
                          seg_model, swapped, zoo_groups)

pytest.importorskip('mmseg')
pytest.importorskip('mmpose')

SEG_ZOO, SEG_UNLOADABLE = family_zoo('mmseg')
POSE_ZOO, POSE_UNLOADABLE = family_zoo('mmpose')
GROUPS = dict(
    mmseg=zoo_groups('mmseg', SEG_ZOO), mmpose=zoo_groups('mmpose', POSE_ZOO))
CASES = [(package, key) for package in ('mmseg', 'mmpose')
         for key in GROUPS[package]]

#: configs of the two zoos that do not load in this environment, with the
#: text of their error: mmseg's ConvNeXt and PoolFormer configs import
#: mmpretrain (not a dependency; neither is a ResNet); mmpose's EDPose
#: (a ResNet-50) is a new-style config reading ``mmpose.configs._base_``,
#: which mmpose's wheel does not ship
MMPRETRAIN = "Failed to import custom modules from {'imports': "
UNLOADABLE = dict(
    mmseg={
        f'convnext/convnext-{size}_upernet_8xb2-amp-160k_ade20k-'
        f'{crop}.py':
        MMPRETRAIN
        for size, crop in (('base', '512x512'), ('base', '640x640'),
                           ('large', '640x640'), ('small', '512x512'),
                           ('tiny', '512x512'), ('xlarge', '640x640'))
    },
    mmpose={
        'body_2d_keypoint/edpose/coco/edpose_res50_8xb2-50e_coco-'
        '800x1333.py':
        'mmpose/configs/_base_/default_runtime.py not '
        'found'
    })
UNLOADABLE['mmseg'].update({
    f'poolformer/{name}.py': MMPRETRAIN
    for name in ('fpn_poolformer_m36_8xb4-40k_ade20k-512x512',
                 'fpn_poolformer_m48_8xb4-40k_ade20k-512x512',
                 'fpn_poolformer_s12_8xb4-40k_ade20k-512x512',
                 'fpn_poolformer_s24_8xb4-40k_ade20k-512x512',
                 'fpn_poolformer_s36_8x4_512x512_40k_ade20k')
})

#: the configs whose control (the codebase's own backbone) is expected to
#: fail here, with the text of the error: none in either zoo. Any control
#: failure fails the walk, and so would a listed config that runs.
CONTROL_FAILS = dict(mmseg={}, mmpose={})


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    """One thread: these steps are small, and two threads on a loaded
    2-core machine make them tens of times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _types(cfg):
    """Every ``type`` named inside a config."""
    if isinstance(cfg, dict):
        own = {cfg['type']} if isinstance(cfg.get('type'), str) else set()
        return own.union(*map(_types, cfg.values()))
    if isinstance(cfg, (list, tuple)):
        return set().union(*map(_types, cfg))
    return set()


def test_zoo_scan_found_every_family_config():
    """mmseg 1.2.2: 429 configs, 390 ResNetV1c and 39 ResNet, in 235
    groups; mmpose 1.3.2: 106, 97 ResNet and 9 ResNetV1d, in 83 groups
    (EDPose, the 107th, does not load: :data:`UNLOADABLE`)."""
    for package, zoo, kinds, n_groups in (('mmseg', SEG_ZOO,
                                           dict(ResNetV1c=390, ResNet=39),
                                           235), ('mmpose', POSE_ZOO,
                                                  dict(ResNet=97,
                                                       ResNetV1d=9), 83)):
        found = Counter(cfg.model.backbone.type for _, cfg in zoo)
        sizes = Counter(len(m) for m in GROUPS[package].values())
        print(f'\n{package}: {len(zoo)} configs {dict(found)}, '
              f'{len(GROUPS[package])} groups (configs per group: '
              f'groups) {dict(sorted(sizes.items()))}')
        assert found == kinds
        assert len(GROUPS[package]) == n_groups
        assert sum(len(m) for m in GROUPS[package].values()) == len(zoo)
    seg = set().union(*(_types(cfg.model.to_dict()) for _, cfg in SEG_ZOO))
    for kind in ('EncoderDecoder', 'CascadeEncoderDecoder', 'PSPHead',
                 'DepthwiseSeparableASPPHead', 'OCRHead', 'PointHead',
                 'Mask2FormerHead', 'MaskFormerHead', 'IterativeDecodeHead',
                 'PSAHead', 'UPerHead', 'JPU', 'FPN', 'SyncBN'):
        assert kind in seg, kind
    pose = set().union(*(_types(cfg.model.to_dict()) for _, cfg in POSE_ZOO))
    for kind in ('HeatmapHead', 'RegressionHead', 'RLEHead', 'SimCCHead',
                 'DSNTHead', 'InternetHead', 'VisPredictHead',
                 'GlobalAveragePooling', 'MSRAHeatmap', 'Hand3DHeatmap'):
        assert kind in pose, kind


def test_configs_that_do_not_load_are_the_named_ones():
    for package, found in (('mmseg', SEG_UNLOADABLE), ('mmpose',
                                                       POSE_UNLOADABLE)):
        assert set(found) == set(UNLOADABLE[package])
        for name, error in found.items():
            assert UNLOADABLE[package][name] in error, (name, error)


def test_expected_control_failures_are_configs_of_the_walk():
    for package, groups in GROUPS.items():
        names = {rel(p) for members in groups.values() for p, _ in members}
        assert set(CONTROL_FAILS[package]) <= names


def test_narrowed_divides_widths_not_counts():
    """The eighth-width model: the backbone's base and stem widths and
    every width of neck and heads; not classes, keypoints, ``in_index``,
    nor an mmpose head's ``out_channels`` (its keypoints)."""
    seg = dict(
        backbone=dict(type='ResNetV1c', depth=50),
        neck=dict(type='FPN', in_channels=[256, 2048], out_channels=256),
        decode_head=dict(
            type='PSPHead',
            in_channels=2048,
            channels=512,
            c1_channels=12,
            in_index=3,
            num_classes=19,
            out_channels=19))
    assert narrowed(seg, 'mmseg') == dict(
        backbone=dict(
            type='ResNetV1c', depth=50, base_channels=8, stem_channels=8),
        neck=dict(type='FPN', in_channels=[32, 256], out_channels=32),
        decode_head=dict(
            type='PSPHead',
            in_channels=256,
            channels=64,
            c1_channels=2,
            in_index=3,
            num_classes=19,
            out_channels=19))
    pose = dict(
        backbone=dict(type='ResNet', depth=50),
        head=dict(
            type='HeatmapHead',
            in_channels=2048,
            out_channels=17,
            deconv_out_channels=(256, 256)))
    assert narrowed(pose, 'mmpose')['head'] == dict(
        type='HeatmapHead',
        in_channels=256,
        out_channels=17,
        deconv_out_channels=(32, 32))


def _backbones():
    """Each distinct whole-width backbone of the two zoos, with its
    package and the number of configs using it."""
    found = {}
    for package, zoo in (('mmseg', SEG_ZOO), ('mmpose', POSE_ZOO)):
        for _, cfg in zoo:
            backbone = model_of(cfg)['backbone']
            key = (package, repr(sorted(backbone.items())))
            found.setdefault(key, [package, backbone, 0])[2] += 1
    return list(found.values())


BACKBONES = _backbones()


@pytest.mark.slow
@pytest.mark.parametrize(
    'package,backbone,uses',
    BACKBONES,
    ids=[
        f'{p}-{b["type"]}{b["depth"]}-{i}-x{n}'
        for i, (p, b, n) in enumerate(BACKBONES)
    ])
def test_whole_width_backbone_is_the_originals_shape(package, backbone, uses):
    """On the meta device: the counterpart of each distinct backbone of
    the zoos (used by ``uses`` configs) at the config's own widths has the
    original's parameter count and output shapes."""
    x = torch.empty(2, 3, 64, 96, device='meta')
    counts, shapes = [], []
    for model in (dict(backbone=backbone),
                  swapped(dict(backbone=backbone), package)):
        net = meta_build(package, model['backbone'])
        counts.append(sum(p.numel() for p in net.parameters()))
        shapes.append([tuple(o.shape) for o in net(x)])
    assert counts[0] == counts[1], counts
    assert shapes[0] == shapes[1]


def _first_trainable_conv(backbone):
    return next(m for m in backbone.modules()
                if isinstance(m, torch.nn.Conv2d) and m.weight.requires_grad)


def _assert_trained(model):
    """A non-zero gradient reached the backbone's first trainable conv."""
    grad = _first_trainable_conv(model.backbone).weight.grad
    assert grad is not None and grad.abs().sum() > 0


@pytest.mark.slow
@pytest.mark.parametrize(
    'package,key',
    CASES,
    ids=[
        f'{p}-{rel(GROUPS[p][k][0][0])[:-3]}-x{len(GROUPS[p][k])}'
        for p, k in CASES
    ])
def test_zoo_group_runs_a_loss_step_with_the_type_swapped(package, key):
    """Where the group's model runs a loss step with the codebase's own
    backbone (weights cleared), it runs with only the backbone type
    changed to its counterpart: finite loss, a gradient at the backbone's
    first conv."""
    members = GROUPS[package][key]
    # each config of the group is accounted for by this step
    assert all(group_key(package, cfg) == key for _, cfg in nonempty(members))
    path, cfg = members[0]
    if package == 'mmseg':
        model, data = seg_model(cfg), seg_batch(cfg)
    else:
        model, data = model_of(cfg), pose_batch(cfg)
    original = model['backbone']['type']
    trained = []

    def control():
        trained.append(loss_step(package, narrowed(model, package), data))

    run_control(control, rel(path), CONTROL_FAILS[package],
                f"{package}'s own {original}")
    ours, loss = loss_step(package, narrowed(swapped(model, package), package),
                           data)
    flavour = dict(mmseg='IResNetSeg', mmpose='IResNetPose')[package]
    expected = SWAPS[package][original].replace('IResNet', flavour)
    assert type(ours.backbone).__name__ == expected
    for net in nonempty([trained[0][0], ours]):
        _assert_trained(net)
    print(f'\n{rel(path)} and {len(members) - 1} more: loss '
          f'{trained[0][1].item():.4f} ({original}), {loss.item():.4f} '
          f'({expected})')
