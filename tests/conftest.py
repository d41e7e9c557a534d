import os
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import mm_iresnet  # noqa: E402,F401  (registers models, compat fixes)

torch.set_num_threads(2)


@pytest.fixture(scope='session')
def root():
    return ROOT


@pytest.fixture(autouse=True)
def quiet_mmengine_init_logs():
    """mmengine logs every initialised parameter at INFO; keep test output
    readable (warnings still show)."""
    import logging

    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    yield
    logger.setLevel(level)
