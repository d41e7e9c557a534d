"""The family: presets, every ordering and shortcut of the seed papers,
grouped blocks, conversions of each official source."""
import pytest
import torch
import torch.nn.functional as F

from mm_iresnet.convert import convert_file
from mm_iresnet.models import (PRESETS, IResNet, IResNet3d, ResBlock,
                               conv_specs, get_layout)
from mm_iresnet.models.layouts import ORDERINGS, Layout
from .helpers import nonempty, randomise_bn, zip_strict
from .scripts import load_script


@pytest.mark.parametrize('name', sorted(PRESETS))
def test_every_preset_builds_in_2d_and_3d(name):
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')  # whatever scope an earlier test left
    model = MODELS.build(dict(type=name, depth=50)).eval()
    grouped = 'Group' in name
    expected = [128, 256, 512, 1024] if grouped else [256, 512, 1024, 2048]
    assert model.out_channels == expected
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == expected
    assert [o.shape[-1] for o in outs] == [16, 8, 4, 2]
    model3d = IResNet3d(
        depth=50, **PRESETS[name], out_indices=(0, 1, 2, 3)).eval()
    with torch.no_grad():
        outs3d = model3d(torch.rand(1, 3, 4, 64, 64))
    assert [o.shape[1] for o in outs3d] == expected
    if name != 'IResNet':  # the base class chooses freely
        with pytest.raises(TypeError, match='fixes'):
            MODELS.build(dict(type=name, depth=50, ordering='original'))


def test_grouped_presets_match_official_sizes():
    from mm_iresnet.models import IResGroup, IResGroupFix
    fc = 1024 * 1000 + 1000
    group = IResGroup(depth=50)
    assert sum(p.numel() for p in group.parameters()) + fc == 24_887_080
    fix = IResGroupFix(depth=50)
    assert sum(p.numel() for p in fix.parameters()) + fc == 23_366_440
    assert [group.layer4[0].conv2.groups, fix.layer1[0].conv2.groups] == \
        [64, 64]
    assert [getattr(group, f'layer{i}')[0].conv2.groups
            for i in range(1, 5)] == [8, 16, 32, 64]
    conv2 = group.layer1[0].conv2  # 32 channels per group, width = planes
    assert conv2.in_channels == conv2.out_channels == 256


def _basic_block(layout, channels=8, merge=None):
    torch.manual_seed(0)
    block = ResBlock(
        conv_specs('basic', channels, channels, channels), layout, merge=merge)
    return randomise_bn(block, 0.5).eval()


# hand-written forward of each ordering (He et al. 2016 Fig. 4, and the
# ResStage positions of Duta et al. 2020), with the block's own layers
REFERENCES = {
    'original':
    lambda b, x: F.relu(b.norm(2)(b.conv2(F.relu(b.norm(1)(b.conv1(x))))) + x),
    'bn_after_add':
    lambda b, x: F.relu(b.norm(2)(b.conv2(F.relu(b.norm(1)(b.conv1(x)))) + x)),
    'relu_before_add':
    lambda b, x: F.relu(b.norm(2)(b.conv2(F.relu(b.norm(1)(b.conv1(x)))))) + x,
    'relu_preact':
    lambda b, x: b.norm(2)(b.conv2(F.relu(b.norm(1)(b.conv1(F.relu(x)))))) + x,
    'preact':
    lambda b, x: b.conv2(F.relu(b.norm(1)(b.conv1(F.relu(b.norm(0)(x)))))) + x,
}
# ResStage positions (start, first middle, middle, end of a 4-block stage)
RESSTAGE = {
    'resstage_paper': {
        0:
        lambda b, x: b.norm(2)(b.conv2(F.relu(b.norm(1)(b.conv1(x))))) + x,
        1:
        lambda b, x: b.conv2(F.relu(b.norm(1)(b.conv1(F.relu(x))))) + x,
        2:
        lambda b, x: b.conv2(F.relu(b.norm(1)(b.conv1(F.relu(b.norm(0)
                                                             (x)))))) + x,
        3:
        lambda b, x: F.relu(
            b.norm(2)
            (b.conv2(F.relu(b.norm(1)(b.conv1(F.relu(b.norm(0)(x)))))) + x)),
    },
    # released: the first middle block's ReLU sits at the start block's end
    'resstage': {
        0:
        lambda b, x: F.relu(
            b.norm(2)(b.conv2(F.relu(b.norm(1)(b.conv1(x))))) + x),
        1:
        lambda b, x: b.conv2(F.relu(b.norm(1)(b.conv1(x)))) + x,
        2:
        lambda b, x: b.conv2(F.relu(b.norm(1)(b.conv1(F.relu(b.norm(0)
                                                             (x)))))) + x,
        3:
        lambda b, x: F.relu(
            b.norm(2)
            (b.conv2(F.relu(b.norm(1)(b.conv1(F.relu(b.norm(0)(x)))))) + x)),
    },
}


@pytest.mark.parametrize('ordering', sorted(REFERENCES))
def test_each_ordering_applies_its_order(ordering):
    block = _basic_block(get_layout(ordering, 1, 3))
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(block(x), REFERENCES[ordering](block, x))


@pytest.mark.parametrize('ordering', sorted(RESSTAGE))
@pytest.mark.parametrize('index', [0, 1, 2, 3])
def test_resstage_positions_apply_their_order(ordering, index):
    block = _basic_block(get_layout(ordering, index, 4))
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(
            block(x), RESSTAGE[ordering][index](block, x))


def test_orderings_table_covers_the_seed_papers():
    assert set(ORDERINGS) == {
        'resstage', 'resstage_paper', 'original', 'bn_after_add',
        'relu_before_add', 'relu_preact', 'preact'
    }
    assert get_layout('original', 0, 3) == Layout(
        last_norm=True, post_act=True)


@pytest.mark.parametrize(
    'shortcut,formula',
    [
        (dict(type='scale', shortcut_scale=0.5), lambda b, x, f: 0.5 * x + f),
        (dict(type='scale', shortcut_scale=0.5,
              branch_scale=0.5), lambda b, x, f: 0.5 * x + 0.5 * f),
        (dict(type='exclusive_gate', gate_bias=-1.),
         lambda b, x, f: torch.sigmoid(b.merge.gate(x)) * f +
         (1 - torch.sigmoid(b.merge.gate(x))) * x),
        (dict(type='shortcut_gate'), lambda b, x, f: f +
         (1 - torch.sigmoid(b.merge.gate(x))) * x),
        (dict(type='conv'), lambda b, x, f: f + b.merge.conv(x)),
        (dict(type='dropout', p=0.5), lambda b, x, f: f + x),  # eval: identity
    ])
def test_shortcut_kinds(shortcut, formula):
    layout = get_layout('relu_before_add', 1, 3)  # no op after the add
    block = _basic_block(layout, merge=shortcut)
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        branch = F.relu(
            block.norm(2)(block.conv2(F.relu(block.norm(1)(block.conv1(x))))))
        torch.testing.assert_close(block(x), formula(block, x, branch))


def test_dropout_shortcut_drops_in_training():
    block = _basic_block(
        get_layout('relu_before_add', 1, 3), merge=dict(type='dropout', p=1.0))
    block.train()
    x = torch.randn(2, 8, 6, 6)
    branch = F.relu(
        block.norm(2)(block.conv2(F.relu(block.norm(1)(block.conv1(x))))))
    torch.testing.assert_close(block(x), branch)


def test_shortcut_variants_leave_projections_alone():
    model = IResNet(
        depth=50, base_channels=8, merge=dict(type='exclusive_gate'))
    assert model.layer2[0].merge is None  # projection block
    assert model.layer2[1].merge is not None
    with pytest.raises(ValueError, match='unknown merge type'):
        IResNet(merge=dict(type='highway'))


@pytest.mark.parametrize('src,preset', [('iresnet', 'IResNet'),
                                        ('iresgroup', 'IResGroup'),
                                        ('iresgroupfix', 'IResGroupFix'),
                                        ('resstage', 'ResStageNet'),
                                        ('torchvision', 'ResNetV1')])
def test_converters_round_trip(tmp_path, src, preset):
    """A state dict in each official layout (this package's keys + fc, in a
    'module.'-prefixed container) converts, loads strictly into the preset
    it names, and gives the same outputs."""
    torch.manual_seed(0)
    kwargs = dict(PRESETS[preset])
    kwargs.setdefault('base_channels', 16)
    kwargs['base_channels'] //= 4 if 'Group' in preset else 1
    kwargs['stem_channels'] = 16
    if 'Group' in preset:
        kwargs['groups'] = (2, 4, 8, 16) if preset == 'IResGroup' else 16
    original = IResNet(depth=50, **kwargs)
    original.init_weights()
    original.eval()
    sd = {f'module.{k}': v for k, v in original.state_dict().items()}
    out_ch = original.stage_channels[-1]
    sd['module.fc.weight'] = torch.zeros(10, out_ch)
    sd['module.fc.bias'] = torch.zeros(10)
    torch.save({'state_dict': sd}, tmp_path / 'official.pth')
    arch = convert_file(
        str(tmp_path / 'official.pth'), str(tmp_path / 'mm.pth'), src)
    assert arch['depth'] == 50
    rebuilt = IResNet(**arch)
    rebuilt.load_state_dict(torch.load(tmp_path / 'mm.pth')['state_dict'])
    rebuilt.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip_strict(original(x), rebuilt(x)):
            torch.testing.assert_close(a, b)


def test_cifar_stem_networks():
    model = IResNet(
        depth=None,
        block='basic',
        stage_blocks=(18, 18, 18),
        num_stages=3,
        strides=(1, 2, 2),
        dilations=(1, 1, 1),
        out_indices=(0, 1, 2),
        base_channels=16,
        cifar_stem=True).eval()
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    assert model.total_stride == 4
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 32, 32))
    assert [tuple(o.shape[1:]) for o in outs] == [(16, 32, 32), (32, 16, 16),
                                                  (64, 8, 8)]
    # CIFAR ResNet-110 has 1.7M parameters (He et al. 2016)
    assert 1.70e6 < sum(p.numel() for p in model.parameters()) < 1.75e6
    with pytest.raises(ValueError, match='cifar_stem'):
        IResNet(cifar_stem=True, stem_pool=True)


def test_depth_study_tool(tmp_path, root):
    tool = load_script(root, 'tools', 'analysis', 'depth_study.py')
    rows = tool.main([
        '--depths', '50', '--variants', 'iresnet', 'resnet_v1', '--width', '4',
        '--batch', '4', '--train-steps', '2', '--out-dir',
        str(tmp_path)
    ])
    assert {r['variant'] for r in rows} == {'iresnet', 'resnet_v1'}
    assert all(r['stem_grad'] > 0 and len(r['losses']) == 2
               for r in nonempty(rows))
    for name in ('depth_study_imagenet.csv', 'depth_study_imagenet.png',
                 'depth_study_imagenet_train.png'):
        assert (tmp_path / name).exists()
    rows = tool.main([
        '--cifar', '--depths', '20', '--variants', 'iresnet', '--width', '4',
        '--out-dir',
        str(tmp_path)
    ])
    assert rows[0]['depth'] == 20
    assert (tmp_path / 'depth_study_cifar.csv').exists()
    with pytest.raises(ValueError, match='6n\\+2 nor 9n\\+2'):
        tool.cifar_arch(21)
