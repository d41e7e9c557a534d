"""IRGBPoseConv3D against the installed mmaction2 RGBPoseConv3D."""
import copy

import pytest
import torch

from .helpers import nonempty

#: mmaction's RGBPose config (skeleton/posec3d/rgbpose_conv3d/), narrowed
PATHWAYS = dict(
    rgb_pathway=dict(
        num_stages=4,
        lateral=True,
        lateral_infl=1,
        lateral_activate=[0, 0, 1, 1],
        fusion_kernel=7,
        base_channels=8,
        conv1_kernel=(1, 7, 7),
        inflate=(0, 0, 1, 1),
        with_pool2=False),
    pose_pathway=dict(
        num_stages=3,
        stage_blocks=(4, 6, 3),
        lateral=True,
        lateral_inv=True,
        lateral_infl=16,
        lateral_activate=(0, 1, 1),
        fusion_kernel=7,
        in_channels=17,
        base_channels=4,
        out_indices=(2, ),
        conv1_kernel=(1, 7, 7),
        conv1_stride_s=1,
        conv1_stride_t=1,
        pool1_stride_s=1,
        pool1_stride_t=1,
        inflate=(0, 1, 1),
        spatial_strides=(2, 2, 2),
        temporal_strides=(1, 1, 1),
        dilations=(1, 1, 1),
        with_pool2=False))


def _pair(**kwargs):
    from mmaction.models.backbones import RGBPoseConv3D

    from mm_iresnet.models import IRGBPoseConv3D
    kwargs = dict(PATHWAYS, **kwargs)
    return (IRGBPoseConv3D(**copy.deepcopy(kwargs)),
            RGBPoseConv3D(**copy.deepcopy(kwargs)))


def _inputs(n=1):
    torch.manual_seed(0)
    # RGB 8 frames; pose 4x the frames at a quarter of the size
    return torch.rand(n, 3, 8, 64, 64), torch.rand(n, 17, 32, 16, 16)


def _count(module):
    return sum(p.numel() for p in module.parameters())


def test_rgbpose_shapes_parameters_and_laterals_as_mmaction():
    ours, theirs = _pair()
    ours.init_weights(), theirs.init_weights()
    for name in ('rgb_path', 'pose_path'):
        a, b = getattr(ours, name), getattr(theirs, name)
        assert _count(a) == _count(b), name
        assert a.lateral_connections == b.lateral_connections
        for lateral in nonempty(a.lateral_connections):
            assert _count(getattr(a, lateral)) == \
                _count(getattr(b, lateral)), lateral
    ours.eval(), theirs.eval()
    with torch.no_grad():
        out, ref = ours(*_inputs()), theirs(*_inputs())
    assert [o.shape for o in nonempty(out)] == [r.shape for r in ref]


def test_rgbpose_detach_and_drop_path():
    imgs, heat = _inputs(2)
    # rgb_detach: the RGB output's gradient does not reach the pose stages
    ours, _ = _pair(rgb_detach=True)
    ours.train()
    rgb, _ = ours(imgs, heat)
    rgb.sum().backward()
    assert all(
        p.grad is None for p in nonempty(ours.pose_path.layer1.parameters()))
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in nonempty(ours.rgb_path.layer3_lateral.parameters()))
    # without it, it does
    ours, _ = _pair()
    ours.train()
    ours(imgs, heat)[0].sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in nonempty(ours.pose_path.layer1.parameters()))
    # rgb_drop_path=1 zeroes the lateral into RGB in training, not in eval
    ours, _ = _pair(rgb_drop_path=1.0)
    other = torch.rand_like(heat)
    with torch.no_grad():
        ours.train()
        torch.testing.assert_close(ours(imgs, heat)[0], ours(imgs, other)[0])
        ours.eval()
        assert not torch.allclose(ours(imgs, heat)[0], ours(imgs, other)[0])
    with pytest.raises(ValueError, match='probability'):
        _pair(pose_drop_path=1.5)


def test_rgbpose_freezing_goes_with_the_pathway_stages():
    rgb = dict(PATHWAYS['rgb_pathway'], frozen_stages=2)
    ours, _ = _pair(rgb_pathway=rgb)
    ours.train()
    path = ours.rgb_path
    for module in (path.conv1, path.layer1, path.layer2, path.layer2_lateral):
        assert not any(p.requires_grad for p in nonempty(module.parameters()))
    for module in (path.layer3, path.layer3_lateral, ours.pose_path):
        assert all(p.requires_grad for p in nonempty(module.parameters()))


def test_rgbpose_pretrained_loads_the_whole_network(tmp_path):
    source, _ = _pair()
    source.init_weights()
    path = str(tmp_path / 'rgbpose.pth')
    torch.save(dict(state_dict=source.state_dict()), path)
    ours, _ = _pair(pretrained=path)
    ours.init_weights()
    for key, value in nonempty(source.state_dict().items()):
        torch.testing.assert_close(ours.state_dict()[key], value)
