"""One normaliser for per-stage and per-block arguments.

A value may be given once for every stage (a scalar) or once per stage (a
sequence); a per-stage entry may itself be given once for the stage's blocks
or once per block. Lengths are checked here, with one message form.

Two readings of a per-stage sequence, as the classes the counterparts
replace read them: exactly one entry per stage (mmdet's and mmaction's
``strides``, ``dilations``, ``stage_with_dcn``... are asserted so), or, for
the arguments they pass through torch's ``_ntuple`` or index directly
(mmaction's ``inflate``, ``non_local``, ``lateral_activate``), at least one
per stage, read by index: mmaction's 4-entry defaults serve its 3-stage
PoseC3D networks.
"""
from typing import Any, Sequence, Tuple

__all__ = ['per_stage', 'per_block']


def _expand(name: str,
            value: Any,
            count: int,
            unit: str,
            total: str,
            by_index: bool = False) -> tuple:
    if not isinstance(value, (list, tuple)):
        return (value, ) * count
    if by_index and len(value) >= count:
        return tuple(value[:count])
    if len(value) != count:
        least = 'at least ' if by_index else ''
        raise ValueError(f'{name} has {len(value)} entries ({tuple(value)}) '
                         f'but {total}: give {least}one per {unit}')
    return tuple(value)


def per_stage(name: str,
              value: Any,
              num_stages: int,
              by_index: bool = False) -> tuple:
    """``value`` for each of ``num_stages`` stages (a scalar is broadcast);
    with ``by_index`` a longer sequence is read by index (its first
    ``num_stages`` entries)."""
    return _expand(name, value, num_stages, 'stage',
                   f'num_stages={num_stages}', by_index)


def per_block(name: str,
              value: Any,
              stage_blocks: Sequence[int],
              by_index: bool = False) -> Tuple[tuple, ...]:
    """``value`` for each block of each stage: a scalar, or one entry per
    stage (``by_index``: at least one, read by index), each a scalar or one
    entry per block."""
    stages = per_stage(name, value, len(stage_blocks), by_index)
    return tuple(
        _expand(f'{name} of stage {i + 1}', entry, n, 'block',
                f'the stage has {n} blocks')
        for i, (entry, n) in enumerate(zip(stages, stage_blocks)))
