"""Compatibility fixes for the pinned OpenMMLab stack, applied on import.

mmaction2 1.2.0 as published on PyPI cannot import ``mmaction.models``: its
``models/localizers/__init__.py`` imports ``.drn.drn``, a module the wheel and
sdist do not contain. :func:`patch_mmaction` puts a placeholder module in its
place, but only when the real one is missing, so a fixed mmaction2 is used as
it is. Building ``type='DRN'`` then raises an ImportError that says why.

Its pose transforms ``PoseCompact`` and ``MMCompact`` (in every PoseC3D and
RGBPoseConv3D pipeline) use ``np.Inf``, an alias of ``np.inf`` that NumPy 2.0
removed: :func:`patch_numpy_aliases` puts the alias back where it is missing.

mmpose 1.3.2 installed without its requirements (``pip install --no-deps``,
which keeps the installed torch) has no torchvision, yet
``mmpose.visualization`` imports it for ``SimCCVisualizer`` alone (a SimCC
heatmap plot), and mmpose's registries import that package to build any
visualizer or log processor, so no mmpose config could start a Runner:
:func:`patch_mmpose_visualization` puts a placeholder module in its place,
only while torchvision is missing.
"""
import importlib.util
import os.path as osp
import sys
import types

__all__ = [
    'patch_mmaction', 'patch_numpy_aliases', 'patch_mmpose_visualization',
    'MISSING_DRN_MESSAGE', 'MISSING_TORCHVISION_MESSAGE'
]

MISSING_DRN_MESSAGE = (
    'DRN is not available: the installed mmaction2 package does not contain '
    'mmaction/models/localizers/drn (missing from the mmaction2 1.2.0 wheel). '
    'Install mmaction2 from its git repository to use DRN.')

_DRN_MODULE = 'mmaction.models.localizers.drn'

MISSING_TORCHVISION_MESSAGE = (
    "mmpose's SimCCVisualizer needs torchvision, which is not installed "
    '(mmpose was installed without its requirements); install the '
    'torchvision release that matches the installed torch to use it.')

_SIMCC_MODULE = 'mmpose.visualization.simcc_vis'


def _missing_drn_file() -> bool:
    spec = importlib.util.find_spec('mmaction')
    if spec is None or not spec.submodule_search_locations:
        return False  # mmaction2 not installed: nothing to patch
    root = list(spec.submodule_search_locations)[0]
    return not osp.exists(
        osp.join(root, 'models', 'localizers', 'drn', 'drn.py'))


def patch_mmaction() -> bool:
    """Make ``import mmaction.models`` work on the mmaction2 1.2.0 wheel.

    Returns True when the placeholder was installed.
    """
    if _DRN_MODULE + '.drn' in sys.modules or not _missing_drn_file():
        return False

    class DRN:  # noqa: D401 - placeholder with the real class's name
        """Placeholder for mmaction's DRN localizer, missing from the wheel."""

        def __init__(self, *args, **kwargs):
            raise ImportError(MISSING_DRN_MESSAGE)

    package = types.ModuleType(_DRN_MODULE)
    package.__path__ = []  # a package, so ``.drn.drn`` resolves
    module = types.ModuleType(_DRN_MODULE + '.drn')
    module.DRN = DRN
    module.__doc__ = MISSING_DRN_MESSAGE
    package.drn = module
    sys.modules[_DRN_MODULE] = package
    sys.modules[_DRN_MODULE + '.drn'] = module
    return True


def patch_numpy_aliases() -> bool:
    """Restore ``np.Inf`` (= ``np.inf``) on NumPy >= 2, for mmaction2 1.2.0's
    ``PoseCompact`` / ``MMCompact``; a no-op where NumPy has it.

    Returns True when the alias was added.
    """
    import numpy as np
    if hasattr(np, 'Inf'):
        return False
    np.Inf = np.inf
    return True


def patch_mmpose_visualization() -> bool:
    """Let ``mmpose.visualization`` import without torchvision: a
    placeholder ``SimCCVisualizer`` (raising ImportError with
    :data:`MISSING_TORCHVISION_MESSAGE` when built) stands in for the module
    that imports it, only where mmpose is installed and torchvision is not.

    Returns True when the placeholder was installed.
    """
    if (_SIMCC_MODULE in sys.modules
            or importlib.util.find_spec('mmpose') is None
            or importlib.util.find_spec('torchvision') is not None):
        return False

    class SimCCVisualizer:  # noqa: D401 - placeholder with the real name
        """Placeholder for mmpose's SimCCVisualizer (needs torchvision)."""

        def __init__(self, *args, **kwargs):
            raise ImportError(MISSING_TORCHVISION_MESSAGE)

    module = types.ModuleType(_SIMCC_MODULE)
    module.SimCCVisualizer = SimCCVisualizer
    module.__doc__ = MISSING_TORCHVISION_MESSAGE
    sys.modules[_SIMCC_MODULE] = module
    return True
