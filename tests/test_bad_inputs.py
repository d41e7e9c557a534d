"""Bad input: one clear error each, nothing silently ignored. One row per
case: what is done, the exception, and words the message must contain."""
import os.path as osp

import pytest
import torch

from mm_iresnet.convert import (CheckpointError, check_state_dict,
                                load_state_dict_file)
from mm_iresnet.models import IResNet, IResNet3d


class Payload:
    """Any pickled object a checkpoint could carry."""


def _truncated(tmp_path):
    path = tmp_path / 'full.pth'
    torch.save(IResNet(depth=18, base_channels=4).state_dict(), path)
    data = path.read_bytes()
    (tmp_path / 'cut.pth').write_bytes(data[:len(data) // 3])
    return load_state_dict_file(str(tmp_path / 'cut.pth'))


def _pickle_payload(tmp_path):
    torch.save({'state_dict': {}, 'extra': Payload()}, tmp_path / 'p.pth')
    return load_state_dict_file(str(tmp_path / 'p.pth'))


def _mismatched_keys(tmp_path):
    model = IResNet(depth=18, base_channels=4)
    sd = model.state_dict()
    sd.pop('layer2.0.conv1.weight')
    sd['head.fc.weight'] = torch.zeros(2)
    sd['layer1.0.conv2.weight'] = torch.zeros(4, 4, 1, 1)
    return check_state_dict(model, sd)


def _missing_dataset(tmp_path, root):
    from mmengine.config import Config

    from mm_iresnet.cli import check_files
    cfg = Config.fromfile(
        osp.join(root, 'configs', 'coco', 'faster_rcnn_iresnet50.py'))
    cfg.model.backbone.init_cfg = None
    for loader in ('train_dataloader', 'val_dataloader'):
        cfg[loader].dataset.data_root = str(tmp_path / 'nowhere') + '/'
    return check_files(cfg)


def _missing_pretrained(tmp_path, root):
    from mmengine.config import Config

    from mm_iresnet.cli import check_files
    cfg = Config.fromfile(
        osp.join(root, 'configs', 'kinetics400',
                 'i3d_iresnet50_32x2x1_k400.py'))
    cfg.model.backbone.pretrained = str(tmp_path / 'missing.pth')
    return check_files(cfg, phases=())


CASES = [
    ('invalid depth', lambda t, r: IResNet(depth=77), KeyError,
     r'invalid depth 77.*valid depths: \[18, 34, 50, 101, 152, 200, 302'),
    ('stage list of the wrong length',
     lambda t, r: IResNet(depth=50, dilations=(1, 1, 2)), ValueError,
     r'dilations has 3 entries .* num_stages=4'),
    ('per-stage 3D list of the wrong length',
     lambda t, r: IResNet3d(depth=50, inflate=(1, 1)), ValueError,
     r'inflate has 2 entries'),
    ('out_indices out of range', lambda t, r: IResNet(
        depth=18,
        num_stages=3,
        strides=(1, 2, 2),
        dilations=(1, 1, 1),
        out_indices=(3, )), ValueError, r'out_indices \(3,\) must be in 0..2'),
    ('frozen_stages out of range',
     lambda t, r: IResNet(depth=18, frozen_stages=9), ValueError,
     r'frozen_stages must be in -1..4'),
    ('unknown ordering', lambda t, r: IResNet(ordering='postact'), ValueError,
     r"unknown ordering 'postact'; valid orderings: bn_after_add"),
    ('unknown projection shortcut', lambda t, r: IResNet(projection='strided'),
     ValueError,
     r"unknown projection 'strided'; valid: maxpool, conv, avgpool"),
    ('in_channels mismatch at forward',
     lambda t, r: IResNet(depth=18, base_channels=4).eval()
     (torch.rand(1, 4, 64, 64)), ValueError,
     r'in_channels=3 but the input has 4 channels'),
    ('4D input to the 3D network',
     lambda t, r: IResNet3d(depth=18, base_channels=4).eval()
     (torch.rand(1, 3, 64, 64)), ValueError,
     r'expects a 5D input \(N, C, T, H, W\), got shape \(1, 3, 64, 64\)'),
    ('5D input to the 2D network',
     lambda t, r: IResNet(depth=18, base_channels=4).eval()
     (torch.rand(1, 3, 4, 64, 64)), ValueError,
     r'expects a 4D input \(N, C, H, W\)'),
    ('empty input', lambda t, r: IResNet(depth=18, base_channels=4).eval()
     (torch.rand(1, 3, 0, 16)), ValueError,
     r'empty input, shape \(1, 3, 0, 16\)'),
    ('clip too short for pool2', lambda t, r: IResNet3d(
        depth=18, base_channels=4, conv1_stride_t=2, pool1_stride_t=2).eval()
     (torch.rand(1, 3, 4, 64, 64)), ValueError,
     r'4 frames; it needs at least 5 \(pool2'),
    ('checkpoint with missing / unexpected / mis-shaped keys',
     lambda t, r: _mismatched_keys(t), CheckpointError,
     r'missing keys \(1\): layer2.0.conv1.weight(.|\n)*unexpected keys \(1\)'
     r': head.fc.weight(.|\n)*layer1.0.conv2.weight: checkpoint'),
    ('truncated checkpoint', lambda t, r: _truncated(t), CheckpointError,
     r'cut.pth: not a readable PyTorch checkpoint \(truncated'),
    ('checkpoint carrying a pickle payload', lambda t, r: _pickle_payload(t),
     CheckpointError,
     r'refused to load, it holds Python objects beyond tensors(.|\n)*'
     r'\(weights_only\)'),
    ('dataset path missing', _missing_dataset, FileNotFoundError,
     r'nowhere/annotations/instances_train2017.json(.|\n)*'
     r'docs/get_started.md "Datasets"'),
    ('config asking for a pretrained file that does not exist',
     _missing_pretrained, FileNotFoundError,
     r'missing.pth(.|\n)*tools/convert_checkpoint.py'),
]


@pytest.mark.parametrize(
    'name,action,error,message', CASES, ids=[c[0] for c in CASES])
def test_bad_input(tmp_path, root, name, action, error, message):
    with pytest.raises(error, match=message):
        action(tmp_path, root)
