"""The networks compared: IResNet against mmdet's ResNet and IResNet3d
against mmaction2's ResNet3d (I3D inflation pattern), and the forms they
take in the rows (trained-like BN, folded BN, PyTorch's pools)."""
import copy
from typing import Callable, NamedTuple, Tuple

import torch
from torch.nn.modules.batchnorm import _BatchNorm

from mm_iresnet.models import IResNet, IResNet3d
from mm_iresnet.models.layers import SeparableMaxPool

I3D_INFLATE = ((1, 1, 1), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 1, 0))


class Case(NamedTuple):
    """One comparison: ``ours()`` / ``base()`` build the two networks,
    ``lead`` is the input's shape before the spatial size."""
    name: str
    ours: Callable
    base: Callable
    lead: Tuple[int, ...]
    kind: str

    def shape(self, size):
        """Input shape (no batch): 3D clips at half the 2D size."""
        size = size if self.kind == '2d' else size // 2
        return (*self.lead, size, size)


def cases(depths, video):
    """The 2D cases at ``depths``, then I3D-50 when ``video``."""
    from mmaction.models import ResNet3d
    from mmdet.models.backbones import ResNet
    for depth in depths:
        yield Case(
            f'2D depth {depth}',
            lambda d=depth, **kw: IResNet(depth=d, **kw),
            lambda d=depth, **kw: ResNet(depth=d, **kw), (3, ),
            '2d')
    if video:
        kw3d = dict(
            conv1_kernel=(5, 7, 7),
            conv1_stride_t=2,
            pool1_stride_t=2,
            inflate=I3D_INFLATE)
        yield Case(
            '3D I3D depth 50', lambda **kw: IResNet3d(depth=50, **kw3d, **kw),
            lambda **kw: ResNet3d(depth=50, pretrained=None, **kw3d, **kw),
            (3, 8), '3d')


def twin(model):
    """An identical, separate copy: the A/A control."""
    return copy.deepcopy(model)


@torch.no_grad()
def trained_like_bn(model, seed=0):
    """BN as after training: running statistics and affine parameters
    drawn at random (no zero gammas, whose all-zero convs would time the
    handling of denormals instead of the network)."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 0.2)
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            if m.affine:
                m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.2)
    model.eval()  # mmdet's ResNet.train returns None
    return model


def fuse_reference(model):
    """The ResNet a user deploys: mmcv's ``fuse_conv_bn`` (mmdet's
    ``--fuse-conv-bn``), which folds BNs after 2D convs, and the same fold
    for the 3D convs of mmaction's ConvModules."""
    from mmcv.cnn import ConvModule, fuse_conv_bn

    from mm_iresnet.models.fuse import fold_named
    model = fuse_conv_bn(model)
    for m in model.modules():
        if isinstance(m, ConvModule) and m.with_norm and \
                fold_named(m, 'conv', m.norm_name):
            m.with_norm = False
    model.eval()
    return model


def native_pools(model):
    """``model`` with its shortcut pools as PyTorch's ``nn.MaxPool``
    (which compute indices even without gradients)."""
    for module in model.modules():
        for key, child in module._modules.items():
            if isinstance(child, SeparableMaxPool):
                module._modules[key] = child.to_native()
    return model
