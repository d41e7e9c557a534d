"""One normaliser for per-stage and per-block arguments.

A value may be given once for every stage (a scalar) or once per stage (a
sequence); a per-stage entry may itself be given once for the stage's blocks
or once per block. Lengths are checked here, with one message form.
"""
from typing import Any, Sequence, Tuple

__all__ = ['per_stage', 'per_block']


def _expand(name: str, value: Any, count: int, unit: str,
            total: str) -> tuple:
    if not isinstance(value, (list, tuple)):
        return (value, ) * count
    if len(value) != count:
        raise ValueError(f'{name} has {len(value)} entries ({tuple(value)}) '
                         f'but {total}: give one per {unit}')
    return tuple(value)


def per_stage(name: str, value: Any, num_stages: int) -> tuple:
    """``value`` for each of ``num_stages`` stages (a scalar is broadcast)."""
    return _expand(name, value, num_stages, 'stage',
                   f'num_stages={num_stages}')


def per_block(name: str, value: Any, stage_blocks: Sequence[int]
              ) -> Tuple[tuple, ...]:
    """``value`` for each block of each stage: a scalar, or one entry per
    stage, each a scalar or one entry per block."""
    stages = per_stage(name, value, len(stage_blocks))
    return tuple(
        _expand(f'{name} of stage {i + 1}', entry, n, 'block',
                f'the stage has {n} blocks')
        for i, (entry, n) in enumerate(zip(stages, stage_blocks)))
