import os
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import mm_iresnet  # noqa: E402,F401  (registers models, compat fixes)

torch.set_num_threads(2)

# No test touches the network, nor the user's weights cache: official weights
# by name (iresnet://) never download here (the tests of mm_iresnet.weights
# lift this and replace the download function), and the cache is a folder
# of the test session's own. Subprocesses inherit both.
os.environ['MM_IRESNET_OFFLINE'] = '1'
os.environ['MM_IRESNET_HOME'] = os.path.join(
    __import__('tempfile').mkdtemp(prefix='mm_iresnet_test_home_'))


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
