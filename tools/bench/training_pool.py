"""``--training-pool``: the train step and the bytes saved for backward
with the shortcut pools as the package runs them in training (the indexed
path of :class:`mm_iresnet.models.layers.SeparableMaxPool`: PyTorch's
channels-last kernel, indices kept as bytes) and as ``nn.MaxPool`` (PyTorch's
default-layout kernel, int64 indices), each against ResNet, with the A/A
control: what the indexed path saves, in a few minutes (the eager rows
time much more)."""
import torch

from .contenders import native_pools, twin
from .eager import memory_row
from .harness import make_step, shuffled


def training_pool_rows(case, args, rows):
    """Train step and saved bytes, the package's pools and nn.MaxPool."""
    shape = case.shape(args.size)
    torch.manual_seed(0)
    ours, base = case.ours(), case.base()
    models = dict(
        ours=ours,
        native_pools=native_pools(twin(ours)),
        base=base,
        control=twin(base))
    models = {k: m.to(args.device) for k, m in models.items()}
    x = torch.randn(args.batch, *shape, device=args.device)
    times = shuffled(
        {
            k: make_step(m, x, 'train', args.device)
            for k, m in models.items()
        },
        args.repeats,
        seed=args.seed)
    rows.timed(case.name, 'train step s (fp32, --training-pool)', times)
    rows.timed(case.name, 'train step s (fp32, shortcut pools as nn.MaxPool)',
               dict(ours=times['native_pools'], base=times['base']))
    for key, label in (('ours', ' (--training-pool)'),
                       ('native_pools', ', shortcut pools as nn.MaxPool')):
        memory_row(
            case, models[key], models['base'], x, args, rows, label, ndigits=1)
