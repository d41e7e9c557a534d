"""Backbones and building blocks of the iResNet family."""
from .action2d import (IC2D, IResNetAction, IResNetTSM, ITANet,
                       register_in_mmaction)
from .blocks import BLOCK_KINDS, ConvSpec, ResBlock, conv_specs
from .inflate import InflationReport, inflate_state_dict
from .iresnet import IResNet
from .iresnet3d import (IResNet2Plus1d, IResNet3d, IResNet3dCSN,
                        IResNet3dSlowOnly)
from .layers import Conv3dReplicateTime
from .layouts import ORDERINGS, Layout, block_position, get_layout
from .merge import MERGES, build_merge
from .presets import (PRESETS, IResGroup, IResGroupFix, IResNetV1c, IResNetV1d,
                      PreActResNet, ResGroup, ResGroupFix, ResNetV1,
                      ResStageNet)
from .projection import PROJECTIONS, build_projection
from .rgbpose import IRGBPoseConv3D
from .segpose import (IResNetPose, IResNetPoseV1d, IResNetSeg, IResNetSegV1c,
                      IResNetSegV1d, register_in_codebase)
from .slowfast import IResNet3dPathway, IResNet3dSlowFast
from .spec import BackboneSpec, StageSpec, mmdet_spec
from .stem import StemSpec, build_stem
from .temporal import SegmentNonLocal, TemporalPool, TemporalShift

__all__ = [
    'BLOCK_KINDS', 'ConvSpec', 'ResBlock', 'conv_specs', 'IResNet',
    'IResNet3d', 'IResNet3dSlowOnly', 'IResNet3dCSN', 'IResNet2Plus1d',
    'IResNet3dPathway', 'IResNet3dSlowFast', 'IRGBPoseConv3D', 'IResNetAction',
    'IResNetTSM', 'ITANet', 'IC2D', 'TemporalShift', 'TemporalPool',
    'SegmentNonLocal', 'InflationReport', 'inflate_state_dict', 'ORDERINGS',
    'Layout', 'block_position', 'get_layout', 'PROJECTIONS',
    'build_projection', 'MERGES', 'build_merge', 'StemSpec', 'build_stem',
    'BackboneSpec', 'StageSpec', 'mmdet_spec', 'Conv3dReplicateTime',
    'PRESETS', 'IResGroup', 'IResGroupFix', 'PreActResNet', 'ResGroup',
    'ResGroupFix', 'ResNetV1', 'ResStageNet', 'IResNetV1c', 'IResNetV1d',
    'IResNetSeg', 'IResNetSegV1c', 'IResNetSegV1d', 'IResNetPose',
    'IResNetPoseV1d'
]

register_in_mmaction()
register_in_codebase('mmseg')
register_in_codebase('mmpose')
