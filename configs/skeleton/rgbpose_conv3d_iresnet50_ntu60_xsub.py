# RGBPoseConv3D with iResNet pathways on NTU-60 X-Sub (mmaction2's own
# RGBPoseConv3D config with the backbone swapped): an RGB pathway (SlowOnly
# iResNet-50, 8 frames) and a pose pathway (the PoseC3D iResNet, 32 frames of
# heatmaps) with bilateral laterals, fine-tuned from the two single-modality
# models (rgb_only_iresnet50_ntu60_xsub.py, pose_only_iresnet_ntu60_xsub.py).
_base_ = 'mmaction::skeleton/posec3d/rgbpose_conv3d/rgbpose_conv3d.py'

custom_imports = dict(imports=['mm_iresnet'], allow_failed_imports=False)

model = dict(backbone=dict(type='IRGBPoseConv3D'))

# mmaction2's initialisation (rgbpose_conv3d_init_*.pth) merges its ResNet
# rgb_only and pose_only models, which do not load into iResNet pathways:
# merge the iResNet ones the same way (mmaction2's merge_pretrain.ipynb) and
# pass the result with --cfg-options load_from=...
load_from = None
