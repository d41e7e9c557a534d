"""The temporal operations are modules in the tree (models/temporal.py):
visible in print(model), called by the blocks and the backbone at named
positions, parameter-free where mmaction's are, and stateless."""
import pytest
import torch
import torch.nn as nn

from mm_iresnet.models import (IC2D, IResNet, IResNetTSM, SegmentNonLocal,
                               TemporalPool, TemporalShift)
from .helpers import nonempty


def hooks(model):
    return [
        name for name, m in model.named_modules()
        if m._forward_pre_hooks or m._forward_hooks
    ]


def test_tsm_shows_its_temporal_modules_and_uses_no_hooks():
    model = IResNetTSM(
        depth=50,
        base_channels=8,
        num_segments=4,
        temporal_pool=True,
        non_local=(0, 0, 1, 0),
        non_local_cfg=dict(sub_sample=True))
    text = repr(model)
    assert 'TemporalShift(num_segments=4, shift_div=8)' in text
    assert 'TemporalShift(num_segments=2, shift_div=8)' in text  # pooled
    assert 'TemporalPool(num_segments=4)' in text
    assert 'SegmentNonLocal' in text
    assert hooks(model) == []
    shifts = [m for m in model.modules() if isinstance(m, TemporalShift)]
    assert len(shifts) == sum(model.stage_blocks)  # every block's branch
    assert isinstance(model.segment_pool, TemporalPool)
    assert model.temporal_pool is True  # mmaction's flag keeps its meaning
    assert all(
        isinstance(model.layer3[j].non_local_block, SegmentNonLocal)
        for j in nonempty(range(len(model.layer3))))
    # the shift and the pool add no checkpoint keys: a 2D state dict loads
    plain = IResNet(depth=50, base_channels=8)
    shifted = IResNetTSM(depth=50, base_channels=8, num_segments=4)
    assert list(plain.state_dict()) == list(shifted.state_dict())
    shifted.load_state_dict(plain.state_dict())


def test_deep_tsm_shifts_every_other_branch_as_mmaction():
    model = IResNetTSM(depth=101, base_channels=4, num_segments=4)
    for layer in (model.layer1, model.layer3):
        assert [block.shift_place is not None for block in layer] == \
            [j % 2 == 0 for j in range(len(layer))]
    block = IResNetTSM(
        depth=101, base_channels=4, num_segments=4, shift_place='block')
    assert all(b.shift_place == 'block' for b in nonempty(block.layer3))


def test_block_shift_reaches_the_shortcut_and_blockres_does_not():
    """'block' shifts the block input (the shortcut sees the neighbours'
    channels), 'blockres' only the branch: with the branch's last conv
    zeroed, only the first changes the block output across segments."""
    torch.manual_seed(0)
    x = torch.rand(4, 16, 8, 8)  # layer2 works on 16 channels
    y = x.clone()
    y[1] += 1  # one segment
    outs = {}
    for place in ('block', 'blockres'):
        model = IResNetTSM(
            depth=18,
            base_channels=8,
            num_segments=4,
            shift_div=2,
            shift_place=place).eval()
        block = model.layer2[1]  # a middle/end block: identity shortcut
        nn.init.zeros_(block.conv2.weight)
        with torch.no_grad():
            outs[place] = (block(x) - block(y)).flatten(1).abs().amax(1)
    assert (outs['block'][[0, 2]] > 1e-6).all()
    assert (outs['blockres'][[0, 2]] < 1e-6).all()


def test_c2d_keeps_no_state_between_calls():
    model = IC2D(depth=18, base_channels=8).eval()
    before = set(vars(model))
    with torch.no_grad():
        a = model(torch.rand(2, 3, 4, 32, 32))
        b = model(torch.rand(1, 3, 8, 32, 32))
    assert a.shape[:3] == (2, 64, 2) and b.shape[:3] == (1, 64, 4)
    assert set(vars(model)) == before
    assert hooks(model) == []
    assert isinstance(model.pool_t, nn.MaxPool3d)


def test_tsm_shift_moves_information_between_segments():
    torch.manual_seed(0)
    shifted = IResNetTSM(depth=18, base_channels=8, num_segments=4).eval()
    plain = IResNet(depth=18, base_channels=8, out_indices=(3, )).eval()
    plain.load_state_dict(shifted.state_dict())  # same names
    x = torch.rand(8, 3, 32, 32)
    y = x.clone()
    y[1] += 1  # change one frame of clip 0
    with torch.no_grad():
        a, b = shifted(x), shifted(y)
        pa, pb = plain(x)[0], plain(y)[0]
    changed = (a - b).flatten(1).abs().amax(1) > 1e-6
    assert changed[:4].all()  # frame 1 reaches its neighbours, and beyond
    assert not changed[4:].any()  # other clip untouched
    plain_changed = (pa - pb).flatten(1).abs().amax(1) > 1e-6
    assert plain_changed.tolist() == [False, True] + [False] * 6
    no_shift = IResNetTSM(
        depth=18, base_channels=8, num_segments=4, is_shift=False).eval()
    no_shift.load_state_dict(shifted.state_dict())
    torch.testing.assert_close(no_shift(x), plain(x)[0])
    with pytest.raises(ValueError, match='4 segments per clip need a batch'):
        shifted(torch.rand(6, 3, 32, 32))
    block_place = IResNetTSM(
        depth=18, base_channels=8, num_segments=4, shift_place='block').eval()
    assert block_place.layer1[0].shift_place == 'block'
    assert block_place.layer1[0].temporal_shift.num_segments == 4
    with pytest.raises(ValueError, match='temporal_pool halves'):
        IResNetTSM(temporal_pool=True, num_segments=1)
