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
