"""mm_iresnet: Improved Residual Networks for mmdet and mmaction2.

Importing this package (``custom_imports=dict(imports=['mm_iresnet'])`` in a
config) registers its backbones in mmengine's root ``MODELS`` registry, which
mmdet's and mmaction2's registries fall back to, and applies the
compatibility fixes of :mod:`mm_iresnet.compat`. The versions of mmcv and
mmengine are checked first (:mod:`mm_iresnet.deps`). On torch >= 2.6 it also
adds the types of mmengine's training checkpoints to torch's ``weights_only``
allowlist, so mmdet's and mmaction2's own tools resume and test
(:mod:`mm_iresnet.checkpoint`).
"""
from .deps import require

require('mmcv')
require('mmengine')

from .compat import patch_mmpose_visualization  # noqa: E402
from .compat import patch_mmaction, patch_numpy_aliases

patch_mmaction()
patch_mmpose_visualization()
patch_numpy_aliases()

from . import weights  # noqa: E402,F401  (registers iresnet:// weights)
from .checkpoint import allow_training_checkpoints_globally  # noqa: E402
from .hooks import FiniteLossHook, PlotCurvesHook  # noqa: E402,F401
from .models import *  # noqa: E402,F401,F403

allow_training_checkpoints_globally()

from .version import __version__  # noqa: E402,F401
