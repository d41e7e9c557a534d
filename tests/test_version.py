"""One version source: ``mm_iresnet/version.py``. pyproject.toml reads it
(``dynamic = ["version"]``), so the installed metadata, the build
configuration and ``mm_iresnet.__version__`` cannot disagree."""
import os.path as osp
from importlib.metadata import version

import mm_iresnet
from mm_iresnet.version import __version__


def test_installed_metadata_is_the_package_version():
    assert mm_iresnet.__version__ == __version__
    assert version('mm_iresnet') == mm_iresnet.__version__


def test_pyproject_reads_the_version_from_the_package(root):
    """No second version string: setuptools resolves pyproject's version
    from mm_iresnet/version.py (statically, without importing the
    package)."""
    from setuptools.config.pyprojecttoml import read_configuration
    config = read_configuration(osp.join(root, 'pyproject.toml'))
    assert 'version' in config['project']['dynamic']
    assert config['tool']['setuptools']['dynamic']['version'] == {
        'attr': 'mm_iresnet.version.__version__'
    }
    assert config['project']['version'] == mm_iresnet.__version__
