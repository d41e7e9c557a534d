"""Declared version ranges, their import-time checks, and the lock."""
import os.path as osp
import re
import sys
from unittest import mock

if sys.version_info >= (3, 11):
    import tomllib
else:  # the floor environment (tools/ci/existing_env.txt) installs tomli
    import tomli as tomllib

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from mm_iresnet import deps
from .helpers import run_process

#: the declared floors the floor environment runs (make check-env)
FLOORED = ('torch', 'numpy', 'mmcv', 'mmengine', 'mmdet', 'mmaction2',
           'mmsegmentation', 'mmpose')


def project(root):
    with open(osp.join(root, 'pyproject.toml'), 'rb') as f:
        return tomllib.load(f)['project']


def declared(root):
    """distribution -> specifier of pyproject.toml, extras included."""
    project_ = project(root)
    reqs = list(project_['dependencies'])
    for extra in project_['optional-dependencies'].values():
        reqs += extra
    return {Requirement(r).name: str(Requirement(r).specifier) for r in reqs}


def test_import_checks_use_the_declared_ranges(root):
    ranges = declared(root)
    for module, (dist, spec) in deps.RANGES.items():
        if module in deps.WITHOUT_REQUIREMENTS:
            assert dist not in ranges, f'{dist} in an extra pulls its ' \
                'requirements'
            continue
        assert Requirement(f'{dist}{spec}').specifier == \
            Requirement(f'{dist}{ranges[dist]}').specifier, dist
    assert set(deps.EXTRAS.values()) <= {'det', 'action', 'seg', 'pose'}
    assert set(deps.EXTRAS.values()) <= \
        set(project(root)['optional-dependencies'])


def test_codebases_without_requirements_are_pinned_and_installed(root):
    """mmpose is in no extra (its requirements would replace torch): the
    lock pins it inside the range, the installer installs it with --no-deps
    and pyproject's comment says how."""
    lock = pins(osp.join(root, 'constraints.txt'))
    install = open(osp.join(root, 'tools', 'install.sh')).read()
    comment = open(osp.join(root, 'pyproject.toml')).read()
    for module in deps.WITHOUT_REQUIREMENTS:
        dist, spec = deps.RANGES[module]
        assert SpecifierSet(spec).contains(lock[canonicalize_name(dist)])
        assert f'--no-deps {dist}' in install
        assert f'pip install --no-deps "{dist}{spec}"' in comment


def pins(path):
    """distribution -> the version a requirements file pins with ==."""
    out = {}
    for line in open(path):
        line = line.split('#')[0].strip()
        if line:
            req = Requirement(line)
            out.update({
                canonicalize_name(req.name): s.version
                for s in req.specifier if s.operator == '=='
            })
    return out


def test_the_lock_pins_what_is_declared_inside_the_ranges(root):
    """constraints.txt pins every declared distribution, each inside its
    declared range (the tested stack is one the package allows)."""
    lock = pins(osp.join(root, 'constraints.txt'))
    for dist, spec in declared(root).items():
        name = canonicalize_name(dist)
        assert name in lock, f'{dist} is not pinned'
        assert Requirement(f'{dist}{spec}').specifier.contains(
            lock[name], prereleases=True), (dist, spec)


def test_the_floor_environment_runs_every_declared_floor(root):
    """tools/ci/existing_env.txt (and existing_env_nodeps.txt, installed
    without dependencies) pins each declared floor (a floor of 2.1 as a
    2.1.x), so no floor is declared that CI does not run; the Python
    floor is a plain ">=X.Y", which check_existing_env.sh reads to find
    its interpreter."""
    # mmpose is declared in deps (installed without its requirements, so
    # in no extra) and pinned in the file installed with --no-deps
    ranges = dict(declared(root), mmpose=deps.RANGES['mmpose'][1])
    floor_env = pins(osp.join(root, 'tools', 'ci', 'existing_env.txt'))
    nodeps = pins(osp.join(root, 'tools', 'ci', 'existing_env_nodeps.txt'))
    assert set(nodeps) == {'mmpose'} and not set(nodeps) & set(floor_env)
    floor_env.update(nodeps)
    for dist in FLOORED:
        floor = [
            Version(s.version) for s in SpecifierSet(ranges[dist])
            if s.operator == '>='
        ]
        assert len(floor) == 1, (dist, ranges[dist])
        run = Version(floor_env[canonicalize_name(dist)])
        assert run.release[:len(floor[0].release)] == floor[0].release, \
            (dist, ranges[dist], str(run))
    python = project(root)['requires-python']
    assert re.fullmatch(r'>=\d+\.\d+', python), python


def test_out_of_range_version_names_version_range_and_fix():
    with pytest.raises(ImportError) as err:
        deps.check_version('mmcv', '2.2.0')
    assert str(err.value) == (
        'mm_iresnet supports mmcv>=2.1.0,<2.2.0, but mmcv==2.2.0 is '
        'installed: pip install "mmcv>=2.1.0,<2.2.0"')
    with pytest.raises(
            ImportError,
            match=r'mmaction2==1\.0\.0 is installed'
            r': pip install "mm_iresnet\[action\]"'):
        deps.check_version('mmaction', '1.0.0')
    deps.check_version('mmengine', '0.10.4')  # the floor is inside


def test_missing_codebase_names_the_extra():
    real = deps.importlib.import_module

    def fake(name):
        if name == 'mmaction':
            raise ModuleNotFoundError(
                "No module named 'mmaction'", name='mmaction')
        return real(name)

    with mock.patch.object(deps.importlib, 'import_module', fake):
        with pytest.raises(
                ImportError,
                match=r'needs mmaction2, which is '
                r'not installed: pip install "mm_iresnet\[action'):
            deps.require('mmaction')
        with pytest.raises(ImportError, match='mm_iresnet\\[action\\]'):
            from mm_iresnet.models import IResNetTSM
            IResNetTSM(depth=18, base_channels=4)
    assert deps.require('mmdet').__name__ == 'mmdet'


@pytest.mark.parametrize(
    'module,fix',
    [('mmseg', 'pip install "mm_iresnet[seg]" (or pip install '
      '"mmsegmentation>=1.2.2,<2.0.0")'),
     ('mmpose', 'pip install "mm_iresnet[pose]" && pip install --no-deps '
      '"mmpose>=1.3.2,<2.0.0"')])
def test_missing_seg_or_pose_names_the_extra(module, fix):
    real = deps.importlib.import_module

    def fake(name):
        if name == module:
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        return real(name)

    with mock.patch.object(deps.importlib, 'import_module', fake):
        with pytest.raises(ImportError) as err:
            deps.require(module)
    assert fix in str(err.value)


def test_import_refuses_an_mmcv_outside_the_range(tmp_path, root):
    """A fresh interpreter whose mmcv reports 2.2.0 (mmdet's known break)
    stops at `import mm_iresnet` with the message, not deep inside."""
    fake = tmp_path / 'mmcv'
    fake.mkdir()
    (fake / '__init__.py').write_text("__version__ = '2.2.0'\n")
    proc = run_process([sys.executable, '-c', 'import mm_iresnet'],
                       timeout=300,
                       capture_output=True,
                       text=True,
                       cwd=root,
                       env={
                           'PYTHONPATH': f'{tmp_path}:{root}',
                           'PATH': '/usr/bin:/bin'
                       })
    assert proc.returncode == 1
    assert 'ImportError: mm_iresnet supports mmcv>=2.1.0,<2.2.0, but ' \
        'mmcv==2.2.0 is installed' in proc.stderr
