"""Every shipped COCO / Kinetics-400 / SSv2 / ADE20K / Cityscapes / COCO
keypoints config is the mmdet, mmaction2, mmseg or mmpose config it names,
with the backbone swapped.

Each config is resolved by mmengine, and so is the installed mmdet/mmaction2
config at the root of its ``_base_`` chain; the two are flattened to dotted
keys and every difference must be allowed by a comment line in the config
itself or in a local config it inherits:

    # differs: model.backbone.type  (why)

A key allows itself and every key below it. A ``differs`` line that allows
nothing is an error too, so the lists cannot go stale.
"""
import ast
import glob
import os.path as osp
import re

import pytest
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(
    osp.relpath(p, ROOT)
    for folder in ('coco', 'kinetics400', 'sthv2', 'ade20k', 'cityscapes',
                   'coco_keypoints')
    for p in glob.glob(osp.join(ROOT, 'configs', folder, '*.py')))
DIFFERS = re.compile(r'^#\s*differs:\s*(\S+)', re.MULTILINE)


def base_of(path):
    """The ``_base_`` of a config file, read without executing it."""
    for node in ast.parse(open(path).read()).body:
        if isinstance(node, ast.Assign) and any(
                getattr(t, 'id', None) == '_base_' for t in node.targets):
            return ast.literal_eval(node.value)
    return None


def chain(path):
    """(the mmdet/mmaction2 config the chain starts from, every allowed key
    with the file that allows it) for the local config ``path``."""
    allowed = []
    while True:
        allowed += [(key, path) for key in DIFFERS.findall(open(path).read())]
        base = base_of(path)
        assert isinstance(base, str), f'{path}: one _base_ string expected'
        if '::' in base:
            return base, allowed
        path = osp.normpath(osp.join(osp.dirname(path), base))


def resolve(reference, tmp_path):
    """The installed config ``reference`` ('mmdet::...'), resolved by
    mmengine exactly as a ``_base_`` of ours is."""
    stub = tmp_path / 'reference.py'
    stub.write_text(f'_base_ = {reference!r}\n')
    return Config.fromfile(str(stub)).to_dict()


def flatten(obj, prefix=''):
    if isinstance(obj, dict) and obj:
        return {
            k: v
            for key, value in obj.items()
            for k, v in flatten(value, f'{prefix}{key}.').items()
        }
    if isinstance(obj, (list, tuple)) and obj:
        return {
            k: v
            for i, value in enumerate(obj)
            for k, v in flatten(value, f'{prefix}{i}.').items()
        }
    return {prefix[:-1]: obj}


MISSING = '<missing>'


def differences(ours, theirs):
    a, b = flatten(ours), flatten(theirs)
    return {
        k: (a.get(k, MISSING), b.get(k, MISSING))
        for k in sorted(set(a) | set(b))
        if a.get(k, MISSING) != b.get(k, MISSING)
    }


def covers(allowed, key):
    return key == allowed or key.startswith(allowed + '.')


def test_every_shipped_config_is_checked():
    assert len(CONFIGS) == 29, CONFIGS


@pytest.mark.parametrize('name', CONFIGS)
def test_config_is_its_base_with_the_backbone_swapped(name, tmp_path):
    path = osp.join(ROOT, name)
    reference, allowed = chain(path)
    assert reference.split('::')[0] in ('mmdet', 'mmaction', 'mmseg',
                                        'mmpose'), reference
    diff = differences(
        Config.fromfile(path).to_dict(), resolve(reference, tmp_path))
    unexplained = [
        f'{k}: ours {a!r}, {reference} {b!r}' for k, (a, b) in diff.items()
        if not any(covers(key, k) for key, _ in allowed)
    ]
    assert not unexplained, (
        f'{name} differs from {reference} where no "# differs:" line allows '
        'it:\n  ' + '\n  '.join(unexplained))
    stale = [
        f'{key} ({osp.relpath(where, ROOT)})' for key, where in allowed
        if not any(covers(key, k) for k in diff)
    ]
    assert not stale, f'{name}: "# differs:" lines that allow nothing: ' \
        f'{stale}'
    # the swap itself is always among the differences
    assert any(covers('model.backbone', k) for k in diff)


def test_flatten_and_cover_see_nested_changes():
    """The comparison itself: a change deep in a pipeline is a difference,
    and a key allows only itself and what lies below it."""
    ours = dict(a=dict(b=[dict(type='Flip', m={1: 2})], c=1))
    theirs = dict(a=dict(b=[dict(type='Flip')], c=1))
    assert differences(ours, theirs) == {'a.b.0.m.1': (2, MISSING)}
    assert covers('a.b', 'a.b.0.m.1') and not covers('a.b', 'a.bc')
