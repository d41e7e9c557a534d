"""Where normalisation and activation sit in a residual block.

This module is the home of the first iResNet idea, the **ResStage information
flow**: a stage is one *start* block, middle blocks and one *end* block, and
each position places its norm/activation layers differently. The same table
form also expresses the orderings of He et al. 2016 ("Identity Mappings in
Deep Residual Networks"), so one block implementation serves every member of
the family.

Two ResStage rows exist, because the released code and the paper differ:

* ``'resstage'`` is what the official code (github iduta/iresnet, master,
  commit babdc4f) computes, the network every published ImageNet checkpoint
  was trained with. Its first middle block applies ``nn.ReLU(inplace=True)``
  to its own input, which is also its shortcut, so the start block's output
  is rectified on the main path. This table writes that ReLU as the start
  block's ``post_act`` (the same function and the same parameters): the main
  path crosses two ReLUs per stage, after the start block and after the end
  block's BN.
* ``'resstage_paper'`` is the paper's one-ReLU-per-stage reading (the
  unmerged 2022 pull request, commit 310124e, whose ReLUs work out of place):
  the first middle block rectifies only its residual branch. No published
  checkpoint exists for it.

A :class:`Layout` says, for one block, which optional layers exist around the
convolutions of the residual branch. Inner convolutions are always followed by
norm + activation; only the ends of the branch and the part after the addition
change between orderings::

    [pre_norm] [pre_act] conv-N-A ... conv [last_norm] [last_act]
    (+ shortcut) [post_norm] [post_act]
"""
from typing import Dict, NamedTuple

__all__ = ['Layout', 'ORDERINGS', 'POSITIONS', 'block_position', 'get_layout']


class Layout(NamedTuple):
    """Optional layers of one residual block (see module docstring)."""

    pre_norm: bool = False
    pre_act: bool = False
    last_norm: bool = False
    last_act: bool = False
    post_norm: bool = False
    post_act: bool = False


#: Block positions inside a stage. ``first_*`` is the block right after the
#: start block; ``single`` is a stage with one block.
POSITIONS = ('start', 'first_middle', 'middle', 'first_end', 'end', 'single')


def _uniform(layout: Layout) -> Dict[str, Layout]:
    return {position: layout for position in POSITIONS}


#: ordering name -> position -> layout.
ORDERINGS: Dict[str, Dict[str, Layout]] = {
    # (f) iResNet ResStage as released (official master babdc4f, the
    # published checkpoints). The start block ends its branch with BN; the
    # first middle block's in-place ReLU rectifies its input, shortcut
    # included, written here as the start block's post-activation; the other
    # middle blocks are pre-activation with nothing after the add; the end
    # block closes the stage with BN + ReLU after the add. A one-block stage
    # is a start block.
    'resstage':
    dict(
        start=Layout(last_norm=True, post_act=True),
        first_middle=Layout(),
        middle=Layout(pre_norm=True, pre_act=True),
        first_end=Layout(post_norm=True, post_act=True),
        end=Layout(pre_norm=True, pre_act=True, post_norm=True, post_act=True),
        single=Layout(last_norm=True, post_act=True)),
    # (f') the paper's reading (unmerged pull request 310124e): the first
    # middle block's ReLU works out of place, on its branch only, so the main
    # path crosses one ReLU per stage (the end block's). A one-block stage is
    # a start block whose addition is followed by the stage's single ReLU.
    'resstage_paper':
    dict(
        start=Layout(last_norm=True),
        first_middle=Layout(pre_act=True),
        middle=Layout(pre_norm=True, pre_act=True),
        first_end=Layout(pre_act=True, post_norm=True, post_act=True),
        end=Layout(pre_norm=True, pre_act=True, post_norm=True, post_act=True),
        single=Layout(last_norm=True, post_act=True)),
    # (a) original post-activation, ResNet v1: conv-BN-ReLU-conv-BN, add, ReLU
    'original':
    _uniform(Layout(last_norm=True, post_act=True)),
    # (b) BN after addition: conv-BN-ReLU-conv, add, BN, ReLU
    'bn_after_add':
    _uniform(Layout(post_norm=True, post_act=True)),
    # (c) ReLU before addition: conv-BN-ReLU-conv-BN-ReLU, add
    'relu_before_add':
    _uniform(Layout(last_norm=True, last_act=True)),
    # (d) ReLU-only pre-activation: ReLU-conv-BN-ReLU-conv-BN, add
    'relu_preact':
    _uniform(Layout(pre_act=True, last_norm=True)),
    # (e) full pre-activation, ResNet v2: BN-ReLU-conv-BN-ReLU-conv, add
    'preact':
    _uniform(Layout(pre_norm=True, pre_act=True)),
}


def block_position(index: int, num_blocks: int) -> str:
    """Position name of block ``index`` in a stage of ``num_blocks`` blocks."""
    if not 0 <= index < num_blocks:
        raise IndexError(f'block {index} outside a stage of {num_blocks}')
    if num_blocks == 1:
        return 'single'
    if index == 0:
        return 'start'
    kind = 'end' if index == num_blocks - 1 else 'middle'
    return f'first_{kind}' if index == 1 else kind


def get_layout(ordering: str, index: int, num_blocks: int) -> Layout:
    """Layout of block ``index`` of a ``num_blocks``-block stage."""
    if ordering not in ORDERINGS:
        raise ValueError(f'unknown ordering {ordering!r}; valid orderings: '
                         f'{", ".join(sorted(ORDERINGS))}')
    return ORDERINGS[ordering][block_position(index, num_blocks)]
