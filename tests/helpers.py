"""Helpers shared by the tests."""
import os.path as osp

import torch
from mmengine.model import BaseModel
from torch.nn.modules.batchnorm import _BatchNorm


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def randomise_bn(model, spread=0.3):
    """Non-trivial BN statistics and affine parameters, so that a test of
    eval-mode numerics exercises them."""
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            m.running_mean.uniform_(-spread, spread)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-spread, spread)
    return model


class TinyModel(BaseModel):
    """The smallest mmengine model, for runner tests."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(2, 2)

    def forward(self, *args, **kwargs):
        return {}


#: outputs of the official iResNet code (see fixtures/official/README.md)
OFFICIAL_FIXTURES = osp.join(osp.dirname(__file__), 'fixtures', 'official')


def load_fixture(version, name):
    """Official outputs of model ``name`` at ``version`` ('master_babdc4f'
    or 'pr_310124e')."""
    return torch.load(osp.join(OFFICIAL_FIXTURES, version, f'{name}.pt'),
                      weights_only=True)


def rel_err(a, b):
    """||a - b|| / ||b||."""
    return ((a - b).norm() / b.norm()).item()
