"""The OpenMMLab versions this package works with, checked at import.

The ranges are those declared in ``pyproject.toml`` (a test keeps the two
equal); the exact stack the project is tested with is ``constraints.txt``.
``import mm_iresnet`` checks mmcv and mmengine, which the backbones need; the
parts that need mmdet or mmaction2 (the demo data sets, the temporal shift,
the zoo tools) call :func:`require` first, so a missing or out-of-range
codebase is reported by name, with the command that installs it.
"""
import importlib
import importlib.metadata
from typing import Dict, Tuple

from packaging.specifiers import SpecifierSet
from packaging.version import Version

__all__ = ['RANGES', 'EXTRAS', 'check_version', 'require']

#: import name -> (distribution, supported versions)
RANGES: Dict[str, Tuple[str, str]] = {
    'mmcv': ('mmcv', '>=2.1.0,<2.2.0'),
    'mmengine': ('mmengine', '>=0.10.4,<1.0.0'),
    'mmdet': ('mmdet', '>=3.2.0,<4.0.0'),
    'mmaction': ('mmaction2', '>=1.2.0,<2.0.0'),
    'mmseg': ('mmsegmentation', '>=1.2.2,<2.0.0'),
    'mmpose': ('mmpose', '>=1.3.2,<2.0.0'),
}
#: import name -> the extra of this package that installs it (for
#: :data:`WITHOUT_REQUIREMENTS`: what it imports, not itself)
EXTRAS = {
    'mmdet': 'det',
    'mmaction': 'action',
    'mmseg': 'seg',
    'mmpose': 'pose'
}
#: codebases installed without their declared requirements (pip install
#: --no-deps), which would replace the installed torch: not in any extra
WITHOUT_REQUIREMENTS = ('mmpose', )


def _fix(module: str) -> str:
    dist, spec = RANGES[module]
    if module in WITHOUT_REQUIREMENTS:
        return (f'pip install "mm_iresnet[{EXTRAS[module]}]" && pip install '
                f'--no-deps "{dist}{spec}" (its declared requirements would '
                'replace torch)')
    if module in EXTRAS:
        return (f'pip install "mm_iresnet[{EXTRAS[module]}]" (or pip install '
                f'"{dist}{spec}")')
    return f'pip install "{dist}{spec}"'


def check_version(module: str, version: str):
    """ImportError naming the installed version, the supported range and the
    fix when ``version`` of ``module`` is outside :data:`RANGES`."""
    dist, spec = RANGES[module]
    if Version(version) not in SpecifierSet(spec, prereleases=True):
        raise ImportError(
            f'mm_iresnet supports {dist}{spec}, but {dist}=={version} is '
            f'installed: {_fix(module)}')


def require(module: str):
    """Import ``module`` (one of :data:`RANGES`) and check its version;
    ImportError with the extra to install when it is missing."""
    dist, _ = RANGES[module]
    try:
        imported = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name != module:
            raise
        raise ImportError(f'this part of mm_iresnet needs {dist}, which is '
                          f'not installed: {_fix(module)}') from e
    version = getattr(imported, '__version__', None) or \
        importlib.metadata.version(dist)
    check_version(module, version)
    return imported
