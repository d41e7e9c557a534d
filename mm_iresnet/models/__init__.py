"""Backbones and building blocks of the iResNet family."""
from .blocks import BLOCK_KINDS, ConvSpec, ResBlock, conv_specs
from .iresnet import IResNet
from .layouts import ORDERINGS, Layout, block_position, get_layout
from .shortcut import PROJECTIONS, build_projection

__all__ = [
    'BLOCK_KINDS', 'ConvSpec', 'ResBlock', 'conv_specs', 'IResNet',
    'ORDERINGS', 'Layout', 'block_position', 'get_layout', 'PROJECTIONS',
    'build_projection'
]
