"""Backbones and building blocks of the iResNet family."""
from .blocks import BLOCK_KINDS, ConvSpec, ResBlock, conv_specs
from .inflate import InflationReport, inflate_state_dict
from .iresnet import IResNet
from .iresnet3d import IResNet3d, IResNet3dSlowOnly
from .iresnet_tsm import IResNetTSM, TemporalShiftHook
from .layers import Conv3dReplicateTime
from .presets import (PRESETS, IResGroup, IResGroupFix, PreActResNet,
                      ResGroup, ResGroupFix, ResNetV1, ResStageNet)
from .layouts import ORDERINGS, Layout, block_position, get_layout
from .merge import MERGES, build_merge
from .projection import PROJECTIONS, build_projection
from .stem import StemSpec, build_stem

__all__ = [
    'BLOCK_KINDS', 'ConvSpec', 'ResBlock', 'conv_specs', 'IResNet',
    'IResNet3d', 'IResNet3dSlowOnly', 'IResNetTSM', 'TemporalShiftHook',
    'InflationReport', 'inflate_state_dict',
    'ORDERINGS', 'Layout', 'block_position', 'get_layout', 'PROJECTIONS',
    'build_projection', 'MERGES', 'build_merge', 'StemSpec', 'build_stem',
    'Conv3dReplicateTime', 'PRESETS', 'IResGroup',
    'IResGroupFix', 'PreActResNet', 'ResGroup', 'ResGroupFix', 'ResNetV1',
    'ResStageNet'
]
