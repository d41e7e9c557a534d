"""Every argument form the replaced classes accept, the counterparts accept
with the same meaning: a grid of per-stage argument forms (num_stages 1-4
against the 4-entry defaults, exact, longer and shorter tuples, scalars)
built with the installed mmdet / mmaction2 class and with its counterpart.
Where the original builds, the counterpart builds and gives the same output
shapes; where the original raises, the counterpart raises too, with a
message (ValueError / TypeError / KeyError naming the argument) instead of
a bare assert or an IndexError.

One documented difference is left out of the "must raise" half: a scalar
for an argument the originals want as a sequence of exactly
``num_stages`` entries (``strides=2``) is broadcast to every stage by the
counterparts (docs/semantics.md)."""
import itertools

import pytest
import torch

#: per class pair: the original, the counterpart, fixed arguments, input,
#: and per stage-wise argument a 4-entry value that changes the network and
#: whether the original reads it by index (so a scalar means every stage)
PAIRS = {
    'mmdet ResNet':
    dict(
        original='mmdet.ResNet',
        ours='mmdet.IResNet',
        fixed=dict(base_channels=4),
        shape=(1, 3, 64, 64),
        args=dict(
            strides=((1, 2, 1, 2), False),
            dilations=((1, 1, 2, 2), False),
            stage_with_dcn=((False, True, True, False), False)),
        extra=dict(
            stage_with_dcn=dict(
                dcn=dict(
                    type='DCN', deform_groups=1, fallback_on_stride=False)))),
    'mmaction ResNet3d':
    dict(
        original='mmaction.ResNet3d',
        ours='mmaction.IResNet3d',
        fixed=dict(base_channels=4, pretrained2d=False),
        shape=(1, 3, 4, 32, 32),
        args=dict(
            spatial_strides=((1, 2, 1, 2), False),
            temporal_strides=((1, 2, 1, 1), False),
            dilations=((1, 1, 2, 2), False),
            inflate=((1, 0, 1, 1), True),
            non_local=((0, 1, 0, 1), True))),
    'mmaction ResNet3dSlowOnly':
    dict(
        original='mmaction.ResNet3dSlowOnly',
        ours='mmaction.IResNet3dSlowOnly',
        fixed=dict(base_channels=4, pretrained2d=False),
        shape=(1, 3, 4, 32, 32),
        args=dict(
            spatial_strides=((1, 2, 2, 2), False),
            inflate=((0, 1, 1, 1), True),
            non_local=((0, 0, 1, 1), True))),
    'mmaction ResNet':
    dict(
        original='mmaction.ResNet',
        ours='mmaction.IResNet',
        fixed=dict(),
        shape=(1, 3, 32, 32),  # no base_channels argument
        args=dict(
            strides=((1, 2, 1, 2), False), dilations=((1, 1, 2, 2), False))),
}
#: the exact-length arguments' defaults, given for num_stages < 4 while
#: another argument is varied
DEFAULTS = dict(
    strides=(1, 2, 2, 2),
    spatial_strides=(1, 2, 2, 2),
    temporal_strides=(1, 1, 1, 1),
    dilations=(1, 1, 1, 1))


def _forms(value, by_index, n):
    """(name, form) of a 4-entry per-stage ``value`` for ``n`` stages."""
    forms = [('exact', value[:n]), ('four', tuple(value)),
             ('five', tuple(value) + (value[-1], )), ('list', list(value[:n]))]
    if n > 1:
        forms.append(('short', value[:n - 1]))
    if by_index:  # _ntuple broadcasts a scalar
        forms.append(('scalar', value[1]))
    return forms


def _cases():
    for pair, spec in PAIRS.items():
        for depth, n in itertools.product((18, 50), (1, 2, 3, 4)):
            for arg, (value, by_index) in spec['args'].items():
                if arg == 'stage_with_dcn' and depth == 18:
                    continue  # mmdet's BasicBlock has no DCN (ours has)
                for form, given in _forms(value, by_index, n):
                    yield pytest.param(
                        pair,
                        depth,
                        n,
                        arg,
                        given,
                        id=f'{pair.split()[1]}-{depth}-n{n}-{arg}-{form}')
            # the 4-entry out_indices default and the last stage alone
            yield pytest.param(
                pair,
                depth,
                n,
                'out_indices', (0, 1, 2, 3),
                id=f'{pair.split()[1]}-{depth}-n{n}-out-four')


def _build(kind, kwargs):
    scope, _, name = kind.partition('.')
    if scope == 'mmdet':
        from mmdet.registry import MODELS as registry
    else:
        from mmaction.registry import MODELS as registry
    return registry.get(name)(**kwargs)


def _outcome(kind, kwargs, x):
    """('built', output shapes) or ('raised', the exception)."""
    torch.manual_seed(0)
    try:
        model = _build(kind, kwargs)
    except Exception as e:  # noqa: BLE001 - the outcome under test
        return 'raised', e
    model.eval()
    with torch.no_grad():
        out = model(x)
    out = out if isinstance(out, (tuple, list)) else (out, )
    return 'built', [tuple(o.shape) for o in out]


@pytest.mark.slow
@pytest.mark.parametrize('pair,depth,n,arg,given', list(_cases()))
def test_argument_form_as_the_original(pair, depth, n, arg, given):
    import mm_iresnet  # noqa: F401 - registers the counterparts
    spec = PAIRS[pair]
    kwargs = dict(spec['fixed'], depth=depth, num_stages=n)
    kwargs.update({k: v[:n] for k, v in DEFAULTS.items() if k in spec['args']})
    kwargs['out_indices'] = (n - 1, )
    kwargs.update(spec.get('extra', {}).get(arg, {}))
    kwargs[arg] = given
    x = torch.rand(*spec['shape'])
    theirs, ref = _outcome(spec['original'], kwargs, x)
    ours, out = _outcome(spec['ours'], kwargs, x)
    if theirs == 'built':
        assert ours == 'built', f'{pair} builds {kwargs}, ours raised {out!r}'
        assert out == ref
    else:
        assert ours == 'raised', \
            f'{pair} raises {ref!r} for {kwargs}; ours built'
        assert isinstance(out, (ValueError, TypeError, KeyError)) and \
            not isinstance(out, AssertionError) and str(out), repr(out)
