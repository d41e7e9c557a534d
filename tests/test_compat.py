"""mmaction2 1.2.0 import compatibility (mm_iresnet.compat)."""
import sys

import pytest

from mm_iresnet import compat
from .helpers import run_process


def _run(code):
    return run_process([sys.executable, '-c', code],
                       timeout=300,
                       capture_output=True,
                       text=True)


def test_plain_mmaction_models_import_is_broken_in_this_wheel():
    """The problem the compat module exists for (pinned mmaction2 1.2.0)."""
    assert compat._missing_drn_file()
    out = _run('import mmaction.models')
    assert out.returncode != 0
    assert 'drn' in out.stderr


def test_mmaction_models_import_after_mm_iresnet():
    out = _run('import mm_iresnet, mmaction.models\n'
               'from mmaction.models import Recognizer3D, ResNet3d\n'
               'print("ok")')
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == 'ok'


def test_importlib_metadata_dependency_present():
    out = _run('import mmaction.utils.dependency')
    assert out.returncode == 0, out.stderr


def test_drn_placeholder_explains():
    from mmaction.models.localizers import DRN
    with pytest.raises(ImportError, match='missing from the mmaction2 1.2.0'):
        DRN()


def test_patch_is_a_no_op_when_drn_exists(monkeypatch):
    monkeypatch.setattr(compat, '_missing_drn_file', lambda: False)
    monkeypatch.delitem(
        sys.modules, compat._DRN_MODULE + '.drn', raising=False)
    monkeypatch.delitem(sys.modules, compat._DRN_MODULE, raising=False)
    assert compat.patch_mmaction() is False
    assert compat._DRN_MODULE not in sys.modules


_POSE_COMPACT = (
    'import numpy as np\n'
    'from mmaction.datasets.transforms import PoseCompact\n'
    'kp = np.array([[[[10., 20.], [30., 50.]]]])\n'
    'out = PoseCompact(hw_ratio=1.)(dict(keypoint=kp, img_shape=(64, 64)))\n'
    'print(out["img_shape"])\n')


def test_plain_mmaction_pose_compact_is_broken_on_numpy2():
    """The problem patch_numpy_aliases exists for: mmaction2 1.2.0's
    PoseCompact (every PoseC3D pipeline) uses np.Inf, gone in NumPy 2."""
    import numpy as np
    if int(np.__version__.split('.')[0]) < 2:
        pytest.skip('np.Inf exists before NumPy 2: nothing to show')
    out = _run(_POSE_COMPACT)
    assert out.returncode != 0
    assert 'np.Inf' in out.stderr


def test_mmaction_pose_compact_after_mm_iresnet():
    import numpy as np
    from mmaction.datasets.transforms import PoseCompact
    kp = np.array([[[[10., 20.], [30., 50.]]]])
    out = PoseCompact(hw_ratio=1.)(dict(keypoint=kp, img_shape=(64, 64)))
    # hw_ratio=1: a square box around the keypoints, 25% padding
    h, w = out['img_shape']
    assert h == w and 30 * 1.25 - 1 <= h <= 30 * 1.25 + 1
    assert (out['keypoint'] >= 0).all() and (out['keypoint'] < h).all()


def test_numpy_alias_patch_is_a_no_op_where_numpy_has_it(monkeypatch):
    import numpy as np
    monkeypatch.setattr(np, 'Inf', np.inf, raising=False)
    assert compat.patch_numpy_aliases() is False
    assert np.Inf == np.inf
