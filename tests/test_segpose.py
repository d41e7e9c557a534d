"""The segmentation and pose counterparts against the INSTALLED mmseg and
mmpose classes: registration (``custom_imports``), the argument-form grid of
mmseg's ``ResNet``/``ResNetV1c``/``ResNetV1d`` (as tests/test_argument_forms.py
for mmdet and mmaction2), what trains (as tests/test_semantics.py), and the
iResNet rule at a stage that dilates instead of striding."""
import itertools
import sys
import textwrap

import pytest
import torch

from mm_iresnet.models import (IResNet, IResNetPose, IResNetPoseV1d,
                               IResNetSeg, IResNetSegV1c, IResNetSegV1d,
                               IResNetV1d)
from .helpers import run_process
from .test_semantics import assert_same_semantics, output_shapes

mmseg = pytest.importorskip('mmseg')


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ------------------------------------------------------------ registration
def test_configs_find_the_counterparts_through_custom_imports(tmp_path):
    """A fresh interpreter: a config with custom_imports=['mm_iresnet'] builds
    each type from mmseg's and mmpose's own registries, each meaning its
    codebase's flavour."""
    pytest.importorskip('mmpose')
    cfg = tmp_path / 'cfg.py'
    cfg.write_text("custom_imports = dict(imports=['mm_iresnet'], "
                   'allow_failed_imports=False)\n')
    script = textwrap.dedent(f"""
        from mmengine.config import Config
        from mmengine.registry import init_default_scope
        Config.fromfile({str(cfg)!r})
        from mmseg.registry import MODELS as SEG
        from mmpose.registry import MODELS as POSE
        built = []
        for scope, registry, types in (
                ('mmseg', SEG, ('IResNet', 'IResNetV1c', 'IResNetV1d')),
                ('mmpose', POSE, ('IResNet', 'IResNetV1d'))):
            init_default_scope(scope)
            for t in types:
                m = registry.build(dict(type=t, depth=18, base_channels=2,
                                        stem_channels=4))
                built.append(f'{{scope}}.{{t}}={{type(m).__name__}}')
        print(' '.join(built))
        """)
    proc = run_process([sys.executable, '-c', script],
                       timeout=240,
                       capture_output=True,
                       text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == [
        'mmseg.IResNet=IResNetSeg', 'mmseg.IResNetV1c=IResNetSegV1c',
        'mmseg.IResNetV1d=IResNetSegV1d', 'mmpose.IResNet=IResNetPose',
        'mmpose.IResNetV1d=IResNetPoseV1d'
    ]


def test_import_needs_neither_mmseg_nor_mmpose():
    """With mmseg and mmpose hidden, ``import mm_iresnet`` works, the classes
    are in the root registry, and asking for a codebase names its extra."""
    script = textwrap.dedent("""
        import importlib.machinery, sys
        class Hide:  # the path finder, blind to mmseg and mmpose
            def find_spec(self, name, path=None, target=None):
                if name.split('.')[0] in ('mmseg', 'mmpose'):
                    return None
                return importlib.machinery.PathFinder.find_spec(
                    name, path, target)
            def invalidate_caches(self):
                importlib.machinery.PathFinder.invalidate_caches()
        sys.meta_path[:] = [Hide() if f is importlib.machinery.PathFinder
                            else f for f in sys.meta_path]
        import importlib.util
        assert importlib.util.find_spec('mmseg') is None
        import mm_iresnet
        from mmengine.registry import MODELS
        assert MODELS.get('IResNetSegV1c') is not None
        for module in ('mmseg', 'mmpose'):
            try:
                mm_iresnet.deps.require(module)
            except ImportError as e:
                print(e)
        """)
    proc = run_process([sys.executable, '-c', script],
                       timeout=240,
                       capture_output=True,
                       text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 2, proc.stdout
    assert 'pip install "mm_iresnet[seg]"' in lines[0]
    assert 'pip install "mm_iresnet[pose]" && pip install --no-deps ' \
        '"mmpose>=1.3.2,<2.0.0"' in lines[1]


def test_a_codebase_refusing_its_import_leaves_the_package_working():
    """mmseg and mmpose assert the mmcv/mmengine versions they accept at
    import: such a refusal skips their registration with a warning."""
    from unittest import mock

    from mm_iresnet.models import segpose

    def refuse(module):
        raise AssertionError(f'{module} refuses this mmcv')

    with mock.patch.object(segpose, 'require', refuse):
        assert segpose.register_in_codebase('mmseg') is False


def test_flavour_defaults_are_the_codebases():
    for ours, defaults in ((IResNetSeg,
                            dict(
                                stem_channels=64,
                                norm_eval=False,
                                out_indices=(0, 1, 2, 3))),
                           (IResNetSegV1c,
                            dict(stem_channels=64, norm_eval=False)),
                           (IResNetPose,
                            dict(
                                stem_channels=64,
                                norm_eval=False,
                                out_indices=(3, ))), (IResNetPoseV1d,
                                                      dict(
                                                          stem_channels=64,
                                                          norm_eval=False,
                                                          out_indices=(3, ))),
                           (IResNetV1d, dict(stem_channels=4,
                                             norm_eval=True))):
        model = ours(depth=18, base_channels=4)
        for name, value in defaults.items():
            assert getattr(model, name) == value, (ours, name)
    with pytest.raises(TypeError, match='fixes deep_stem'):
        IResNetSegV1c(depth=18, deep_stem=False)


# -------------------------------------------------- the argument-form grid
#: mmseg class -> our class (mmseg's registry name for both)
SEG_PAIRS = ('ResNet', 'ResNetV1c', 'ResNetV1d')
#: stage-wise arguments the original reads as exactly num_stages entries
STAGE_WISE = dict(
    strides=(1, 2, 1, 1),
    dilations=(1, 1, 2, 4),
    stage_with_dcn=(False, True, True, False))
DCN = dict(type='DCN', deform_groups=1, fallback_on_stride=False)
PLUGIN = dict(type='ContextBlock', ratio=1. / 4)
DEFAULTS = dict(strides=(1, 2, 2, 2), dilations=(1, 1, 1, 1))
BLOCKS = {18: (2, 2, 2, 2), 50: (3, 4, 6, 3)}


def _forms(value, n):
    forms = [('exact', value[:n]), ('four', tuple(value)),
             ('five', tuple(value) + (value[-1], )), ('list', list(value[:n]))]
    if n > 1:
        forms.append(('short', value[:n - 1]))
    return forms


def _grid_cases():
    for pair, depth, n in itertools.product(SEG_PAIRS, (18, 50), (1, 2, 3, 4)):
        tag = f'{pair}-{depth}-n{n}'
        base = {k: v[:n] for k, v in DEFAULTS.items()}
        for arg, value in STAGE_WISE.items():
            if arg == 'stage_with_dcn' and depth == 18:
                continue  # mmseg's BasicBlock has no DCN (ours has)
            for form, given in _forms(value, n):
                extra = dict(dcn=DCN) if arg == 'stage_with_dcn' else {}
                yield pytest.param(
                    pair,
                    depth,
                    dict(base, num_stages=n, **extra, **{arg: given}),
                    id=f'{tag}-{arg}-{form}')
        # output stride 8 and 16 with contract_dilation, then multi_grid
        dilated = dict(
            num_stages=n, strides=(1, 2, 1, 1)[:n], dilations=(1, 1, 2, 4)[:n])
        os16 = dict(
            num_stages=n, strides=(1, 2, 2, 1)[:n], dilations=(1, 1, 1, 2)[:n])
        for contract in (False, True):
            yield pytest.param(
                pair,
                depth,
                dict(dilated, contract_dilation=contract),
                id=f'{tag}-os8-contract{contract}')
            yield pytest.param(
                pair,
                depth,
                dict(os16, contract_dilation=contract),
                id=f'{tag}-os16-contract{contract}')
        last = BLOCKS[depth][n - 1]
        grid = (1, 2, 4, 8, 16, 32)[:last]
        for form, given in (('exact', grid), ('longer', grid + (2, )),
                            ('list', list(grid)), ('short',
                                                   grid[:-1]), ('scalar', 2)):
            yield pytest.param(
                pair,
                depth,
                dict(dilated, contract_dilation=True, multi_grid=given),
                id=f'{tag}-multi_grid-{form}')
        if depth == 50:  # mmseg's BasicBlock refuses plugins (ours takes)
            for form, given in _forms((False, True, True, True), n):
                yield pytest.param(
                    pair,
                    depth,
                    dict(
                        base,
                        num_stages=n,
                        plugins=[
                            dict(
                                cfg=PLUGIN,
                                stages=given,
                                position='after_conv3')
                        ]),
                    id=f'{tag}-plugins-{form}')
        yield pytest.param(
            pair,
            depth,
            dict(base, num_stages=n, out_indices=(0, 1, 2, 3)),
            id=f'{tag}-out-four')


def _dilations(model):
    """Each block's convs' dilations, stage by stage."""
    return [[
        tuple(
            getattr(block, f'conv{k}').dilation for k in (1, 2, 3)
            if hasattr(block, f'conv{k}')) for block in getattr(model, name)
    ] for name in model.res_layers]


def _outcome(registry, name, kwargs, x):
    """('built', output shapes, per-block dilations, parameter count) or
    ('raised', the exception)."""
    torch.manual_seed(0)
    try:
        model = registry.get(name)(**kwargs)
    except Exception as e:  # noqa: BLE001 - the outcome under test
        return 'raised', e
    params = sum(p.numel() for p in model.parameters())
    return 'built', (output_shapes(model, x), _dilations(model), params)


@pytest.mark.parametrize('pair,depth,kwargs', list(_grid_cases()))
def test_argument_form_as_mmseg(pair, depth, kwargs):
    """Where mmseg's class builds, ours builds with the same output shapes
    on an odd-sized input, the same dilation in every conv of every block,
    and the same parameter count; where it raises, ours raises a
    ValueError/TypeError/KeyError with a message."""
    from mmseg.registry import MODELS

    import mm_iresnet  # noqa: F401 - registers the counterparts
    kwargs = dict(kwargs, depth=depth, base_channels=4, stem_channels=8)
    kwargs.setdefault('out_indices', (kwargs['num_stages'] - 1, ))
    x = torch.rand(1, 3, 33, 33)
    theirs, ref = _outcome(MODELS, pair, kwargs, x)
    ours, out = _outcome(MODELS, f'I{pair}', kwargs, x)
    if theirs == 'built':
        assert ours == 'built', f'mmseg {pair} builds {kwargs}, ours ' \
            f'raised {out!r}'
        assert out == ref
    else:
        assert ours == 'raised', \
            f'mmseg {pair} raises {ref!r} for {kwargs}; ours built'
        assert isinstance(out, (ValueError, TypeError, KeyError)) and \
            str(out), repr(out)


# ------------------------------------------------------------ what trains
FROZEN_NORM = [
    dict(frozen_stages=f, norm_eval=e)
    for f, e in itertools.product(range(-1, 5), (False, True))
]
OS8 = dict(
    strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4), contract_dilation=True)


def _case_id(kwargs):
    return '-'.join(f'{k}={v}' if len(str(v)) <= 24 else k
                    for k, v in kwargs.items()) or 'defaults'


SEG_SEMANTICS = [dict(pair=p, **kw) for p in SEG_PAIRS for kw in FROZEN_NORM]
SEG_SEMANTICS += [
    dict(pair='ResNetV1c', depth=50, **OS8, frozen_stages=1),
    dict(
        pair='ResNetV1c',
        depth=50,
        **OS8,
        multi_grid=(1, 2, 4),
        norm_eval=True),
    dict(pair='ResNetV1d', depth=50, **OS8, with_cp=True, frozen_stages=2),
    dict(
        pair='ResNet',
        depth=50,
        strides=(1, 2, 2, 1),
        dilations=(1, 1, 1, 2),
        contract_dilation=True),
    dict(
        pair='ResNetV1c',
        depth=50,
        plugins=[
            dict(
                cfg=PLUGIN,
                stages=(False, True, True, True),
                position='after_conv3')
        ],
        frozen_stages=2),
    dict(pair='ResNetV1c', zero_init_residual=False, **OS8),
    dict(pair='ResNetV1c', norm_cfg=dict(type='BN', requires_grad=False)),
    dict(pair='ResNet', stem_channels=None),  # mmseg's default, 64
]


@pytest.mark.parametrize(
    'kwargs', [pytest.param(k, id=_case_id(k)) for k in SEG_SEMANTICS])
def test_means_what_mmseg_means(kwargs):
    """Per child: parameters, trainable parameters, norms in train and eval
    mode after init_weights() and train(); output shapes on 33x33."""
    from mmseg.registry import MODELS
    kwargs = dict(dict(depth=18, base_channels=4, stem_channels=8), **kwargs)
    pair = kwargs.pop('pair')
    if kwargs['stem_channels'] is None:
        del kwargs['stem_channels']
    ours = MODELS.get(f'I{pair}')(**kwargs)
    theirs = MODELS.get(pair)(**kwargs)
    assert_same_semantics(ours, theirs)
    x = torch.rand(1, 3, 33, 33)
    assert output_shapes(ours, x) == output_shapes(theirs, x)


@pytest.mark.parametrize('kwargs', [
    pytest.param(k, id=_case_id(k)) for k in [
        dict(pair='ResNet'),
        dict(pair='ResNetV1d'),
        dict(pair='ResNet', frozen_stages=1, norm_eval=True),
        dict(pair='ResNetV1d', frozen_stages=4),
        dict(pair='ResNet', depth=50, out_indices=(0, 3), with_cp=True)
    ]
])
def test_means_what_mmpose_means(kwargs):
    pytest.importorskip('mmpose')
    from mmpose.registry import MODELS

    import mm_iresnet  # noqa: F401
    kwargs = dict(dict(depth=18, base_channels=4, stem_channels=8), **kwargs)
    pair = kwargs.pop('pair')
    ours = MODELS.get(f'I{pair}')(**kwargs)
    theirs = MODELS.get(pair)(**kwargs)
    assert type(ours) in (IResNetPose, IResNetPoseV1d)
    assert_same_semantics(ours, theirs)
    x = torch.rand(1, 3, 33, 33)
    assert output_shapes(ours, x) == output_shapes(theirs, x)


@pytest.mark.parametrize(
    'kwargs',
    [dict(),
     dict(frozen_stages=1),
     dict(frozen_stages=2, norm_eval=False)])
def test_v1d_means_what_mmdet_v1d_means(kwargs):
    from mmdet.models.backbones import ResNetV1d
    kwargs = dict(depth=18, base_channels=4, **kwargs)
    ours, theirs = IResNetV1d(**kwargs), ResNetV1d(**kwargs)
    assert_same_semantics(ours, theirs)
    x = torch.rand(1, 3, 33, 33)
    assert output_shapes(ours, x) == output_shapes(theirs, x)


# ------------------------------------ the shortcut where a stage dilates
def test_dilated_stage_shortcut_is_conv_bn_without_pool():
    """A stage that dilates instead of striding (stride 1): its start
    block's shortcut only widens, conv 1x1 (stride 1) -> BN, with an
    Identity where the pool is in the striding network; the improved
    shortcut's max-pool stays only where a stage strides."""
    model = IResNetSegV1c(
        depth=50, base_channels=4, stem_channels=8, **OS8).eval()
    for name, strided in (('layer1', True), ('layer2', True),
                          ('layer3', False), ('layer4', False)):
        down = getattr(model, name)[0].downsample
        kinds = [type(m).__name__ for m in down]
        if strided:
            assert kinds == ['SeparableMaxPool', 'Conv2d', 'BatchNorm2d']
        else:
            assert kinds == ['Identity', 'Conv2d', 'BatchNorm2d'], name
            assert down[1].stride == (1, 1)
            x = torch.rand(1, down[1].in_channels, 9, 9)
            with torch.no_grad():
                assert torch.equal(down(x), down[2](down[1](x)))
    # the average-pool shortcut (V1d) likewise
    v1d = IResNetSegV1d(depth=50, base_channels=4, stem_channels=8, **OS8)
    assert [type(m).__name__ for m in v1d.layer3[0].downsample] == \
        ['Identity', 'Conv2d', 'BatchNorm2d']


@pytest.mark.parametrize('cls', [IResNet, IResNetSeg])
def test_striding_weights_load_into_the_dilated_network(cls):
    """The weights of the striding network (iresnet:// checkpoints) load
    strictly into the output-stride-8 and -16 networks: same names, same
    shapes."""
    kw = dict(depth=50, base_channels=4, stem_channels=4)
    state = IResNet(**kw).state_dict()
    for strides, dilations in (((1, 2, 1, 1), (1, 1, 2, 4)), ((1, 2, 2, 1),
                                                              (1, 1, 1, 2))):
        dilated = cls(
            strides=strides, dilations=dilations, contract_dilation=True, **kw)
        dilated.load_state_dict(state, strict=True)


def test_contract_dilation_and_multi_grid_per_block():
    """contract_dilation halves the first block's dilation of a dilated
    stage; multi_grid replaces the last stage's dilations block by block
    (and then contract_dilation does not touch that stage)."""
    model = IResNetSeg(depth=50, base_channels=4, stem_channels=8, **OS8)
    conv2 = [[b.conv2.dilation[0] for b in getattr(model, f'layer{i}')]
             for i in range(1, 5)]
    assert conv2 == [[1] * 3, [1] * 4, [1] + [2] * 5, [2, 4, 4]]
    grid = IResNetSeg(
        depth=50,
        base_channels=4,
        stem_channels=8,
        multi_grid=(1, 2, 4),
        **OS8)
    assert [b.conv2.dilation[0] for b in grid.layer4] == [1, 2, 4]
    assert [b.conv2.dilation[0] for b in grid.layer3] == [1] + [2] * 5
    assert [b.conv2.padding[0] for b in grid.layer4] == [1, 2, 4]
