"""mmaction2 1.2.0 import compatibility (mm_iresnet.compat)."""
import subprocess
import sys

import pytest

from mm_iresnet import compat


def _run(code):
    return subprocess.run([sys.executable, '-c', code], capture_output=True,
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
    monkeypatch.delitem(sys.modules, compat._DRN_MODULE + '.drn',
                        raising=False)
    monkeypatch.delitem(sys.modules, compat._DRN_MODULE, raising=False)
    assert compat.patch_mmaction() is False
    assert compat._DRN_MODULE not in sys.modules
