# The per-frame baseline: the TSM demo without the temporal shift (a TSN:
# each frame is classified alone and the scores averaged). It cannot tell the
# direction of motion, which no single frame shows.
_base_ = './tsm_iresnet18_moving_shapes.py'

model = dict(backbone=dict(is_shift=False), cls_head=dict(is_shift=False))
