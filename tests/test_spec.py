"""The network as data (models/spec.py): what each translator makes of its
arguments, and that a backbone built from a spec is the one built from the
arguments."""
import inspect

import mmcv.ops  # noqa: F401  (registers DCN)
import pytest
import torch

from mm_iresnet.models import IResNet, IResNet3d, IResNet3dPathway, IResNetTSM
from mm_iresnet.models.spec import (BackboneSpec, mmdet_spec,
                                    same_named_arguments)
from .helpers import nonempty, zip_strict


def shapes(model):
    return [(k, tuple(v.shape)) for k, v in model.state_dict().items()]


@pytest.mark.parametrize('kwargs', [
    dict(depth=50),
    dict(depth=18, strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2)),
    dict(depth=50, groups=32, base_width=4, avg_down=True, deep_stem=True),
    dict(
        depth=None,
        stage_blocks=(2, 3),
        num_stages=2,
        base_channels=16,
        strides=(1, 2),
        dilations=(1, 1),
        ordering='preact',
        projection='conv',
        stem_pool=True),
    dict(
        depth=50,
        dcn=dict(type='DCN', deform_groups=1),
        stage_with_dcn=(False, True, True, False)),
])
def test_the_backbone_builds_its_translated_spec(kwargs):
    outputs = dict(out_indices=tuple(range(kwargs.get('num_stages', 4))))
    model = IResNet(**kwargs, **outputs)
    assert model.spec == mmdet_spec(**kwargs)
    from_spec = IResNet(spec=mmdet_spec(**kwargs), **outputs)
    assert shapes(from_spec) == shapes(model)


def test_the_constructor_passes_every_spec_argument_on():
    """IResNet passes mmdet_spec its same-named arguments: each of
    mmdet_spec's parameters but ``stem`` is one of the constructor's, so
    none is dropped, and a non-default value of each reaches the spec."""
    spec_parameters = set(inspect.signature(mmdet_spec).parameters)
    own = set(inspect.signature(IResNet.__init__).parameters)
    assert spec_parameters - own == {'stem'}
    scope = dict(depth=18, base_channels=8, out_indices=(0, ), spec=None)
    assert same_named_arguments(mmdet_spec, scope) == dict(
        depth=18, base_channels=8)
    model = IResNet(
        depth=50,
        base_channels=8,
        ordering='preact',
        groups=2,
        base_width=8,
        multi_grid=(1, 2, 4),
        strides=(1, 2, 2, 1),
        dilations=(1, 1, 1, 2))
    assert model.spec == mmdet_spec(
        depth=50,
        base_channels=8,
        ordering='preact',
        groups=2,
        base_width=8,
        multi_grid=(1, 2, 4),
        strides=(1, 2, 2, 1),
        dilations=(1, 1, 1, 2))
    assert model.spec != mmdet_spec(depth=50, base_channels=8)


def test_mmdet_arguments_as_stages():
    spec = mmdet_spec(
        depth=50,
        strides=(1, 2, 2, 1),
        groups=(1, 2, 4, 8),
        base_width=None,
        deep_stem=True,
        plugins=[
            dict(
                cfg=dict(type='ContextBlock', ratio=1. / 4),
                stages=(False, True, True, True),
                position='after_conv3')
        ])
    assert spec.stage_blocks == (3, 4, 6, 3)
    assert [s.in_channels for s in spec.stages] == [64, 256, 512, 1024]
    assert [spec.out_channels(i) for i in range(4)] == [256, 512, 1024, 2048]
    assert [s.stride for s in spec.stages] == [1, 2, 2, 1]
    assert [s.groups for s in spec.stages] == [1, 2, 4, 8]
    assert [s.mid_channels for s in spec.stages] == [64, 128, 256, 512]
    assert [len(s.plugins) for s in spec.stages] == [0, 1, 1, 1]
    assert spec.stem.kind == 'deep' and spec.stem.moved_stride == 2
    assert spec.block == 'bottleneck' and spec.expansion == 4
    # ResNeXt widths: base_width channels per group at base_channels
    assert mmdet_spec(depth=50, groups=32, base_width=4).stages[0] \
        .mid_channels == 128


@pytest.mark.parametrize('kwargs', [
    dict(depth=50),
    dict(depth=18, strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2)),
    dict(depth=50, strides=(1, 2, 1, 2), dilations=(1, 1, 2, 1)),
])
def test_stage_strides_and_dilations_are_mmdets(kwargs):
    """Each stage's stride and dilation as mmdet's ResNet built from the
    same arguments has them: the per-stage output sizes on an odd input,
    and the dilation and padding of each stage's 3x3 convolutions."""
    from mmdet.models.backbones import ResNet
    outputs = dict(out_indices=(0, 1, 2, 3))
    ours, theirs = IResNet(**kwargs, **outputs), ResNet(**kwargs, **outputs)
    ours.eval()
    theirs.eval()
    x = torch.randn(1, 3, 67, 45)
    with torch.no_grad():
        sizes = [[tuple(y.shape) for y in m(x)] for m in (ours, theirs)]
    assert len(sizes[0]) == len(sizes[1]) == 4
    assert sizes[0] == sizes[1]

    def dilations(model, i):
        return sorted({
            (m.dilation, m.padding)
            for m in getattr(model, f'layer{i}').modules()
            if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)
        })

    for i in range(1, 5):
        assert dilations(ours, i) and \
            dilations(ours, i) == dilations(theirs, i), i


def test_the_3d_translator_puts_time_on_the_blocks():
    model = IResNet3d(
        depth=50,
        temporal_strides=(1, 2, 1, 1),
        inflate=((1, 0, 1), 0, 1, (0, 1, 0)),
        inflate_style='3x3x3',
        non_local=(0, 0, (1, 0) * 3, 0),
        non_local_cfg=dict(sub_sample=True))
    stages = model.spec.stages
    assert [b['inflate_style'] for b in stages[0].blocks] == \
        ['3x3x3', None, '3x3x3']
    assert [b['temporal_stride'] for b in stages[1].blocks] == [2, 1, 1, 1]
    assert [b['non_local_cfg'] is not None for b in stages[2].blocks] == \
        [True, False] * 3
    assert model.layer2[0].conv2.stride == (2, 2, 2)


def test_the_pathway_widens_the_stages_that_take_laterals():
    slow = IResNet3dPathway(
        depth=50,
        lateral=True,
        base_channels=8,
        channel_ratio=8,
        lateral_infl=2,
        lateral_activate=(1, 0, 1, 1))
    assert slow.lateral_from == [8, 32, 64, 128]
    assert slow.lateral_in_channels == [2, 0, 16, 32]
    assert [s.in_channels for s in slow.spec.stages] == [10, 32, 80, 160]
    assert hasattr(slow, 'conv1_lateral')
    # the stage laterals, as mmaction's pathway lists them
    from mmaction.models.backbones.resnet3d_slowfast import ResNet3dPathway
    theirs = ResNet3dPathway(
        depth=50,
        lateral=True,
        base_channels=8,
        channel_ratio=8,
        lateral_infl=2,
        lateral_activate=(1, 0, 1, 1))
    assert slow.lateral_connections == theirs.lateral_connections == [
        'layer2_lateral', 'layer3_lateral'
    ]
    fast = IResNet3dPathway(depth=50, lateral=False, base_channels=8)
    assert [s.in_channels for s in fast.spec.stages] == [8, 32, 64, 128]


def test_tsm_puts_its_shift_on_the_blocks():
    model = IResNetTSM(
        depth=50,
        base_channels=8,
        num_segments=4,
        temporal_pool=True,
        shift_div=4)
    shifts = [b['temporal_shift'] for s in model.spec.stages for b in s.blocks]
    assert all(s == dict(num_segments=n, shift_div=4, place='blockres')
               for s, n in nonempty(zip_strict(shifts, [4] * 3 + [2] * 13)))


@pytest.mark.parametrize('build,widened', [
    (lambda: IResNet(depth=18, base_channels=8), [4, 16, 32, 64]),
    (lambda: IResNetTSM(depth=18, base_channels=8, num_segments=4),
     [4, 16, 32, 64]),
    (lambda: IResNet3d(depth=18, base_channels=8), [4, 16, 32, 64]),
    (lambda: IResNet3dPathway(
        depth=50,
        lateral=True,
        base_channels=8,
        channel_ratio=8,
        lateral_infl=2,
        lateral_activate=(1, 0, 1, 1)), [5, 16, 40, 80]),
])
def test_adapt_spec_maps_a_spec_and_leaves_the_module_alone(build, widened):
    """A spec of another width than the module's own: the adapted spec is
    returned, and no attribute of the module is created, rebound or
    changed (the pathway derives its lateral widths in its constructor)."""
    model = build()
    spec = mmdet_spec(depth=None, stage_blocks=(1, 2, 1, 1), base_channels=4)
    before = dict(vars(model))
    lateral_from = list(getattr(model, 'lateral_from', []))
    adapted = model.adapt_spec(spec)
    assert isinstance(adapted, BackboneSpec)
    assert [s.in_channels for s in adapted.stages] == widened
    assert adapted.stage_blocks == spec.stage_blocks == (1, 2, 1, 1)
    assert vars(model).keys() == before.keys()
    assert all(vars(model)[k] is v for k, v in nonempty(before.items()))
    assert list(getattr(model, 'lateral_from', [])) == lateral_from
    assert model.adapt_spec(spec) == adapted


def test_the_base_backbone_knows_nothing_of_time_or_laterals():
    params = set(inspect.signature(IResNet).parameters)
    assert not {
        p
        for p in params
        if 'lateral' in p or 'temporal' in p or p == 'block_args'
    }
    assert 'spec' in params
    assert isinstance(IResNet(depth=18).spec, BackboneSpec)


def test_spec_is_plain_data():
    spec = mmdet_spec(depth=18)
    wider = spec.with_stage_inputs([1, 2, 3, 4])
    assert [s.in_channels for s in wider.stages] == [65, 66, 131, 260]
    assert [s.in_channels for s in spec.stages] == [64, 64, 128, 256]
    tagged = spec.with_block_args(lambda i, j: dict(tag=(i, j)))
    assert tagged.stages[3].blocks[1] == dict(tag=(3, 1))
    assert spec.stages[3].blocks[1] == {}
    with pytest.raises(KeyError, match='invalid depth 77'):
        mmdet_spec(depth=77)
