# The pose pathway of RGBPoseConv3D trained alone (mmaction2's pose_only
# config with the backbone swapped): the PoseC3D iResNet on 32 frames of
# 17-channel keypoint heatmaps.
_base_ = 'mmaction::skeleton/posec3d/rgbpose_conv3d/pose_only.py'

custom_imports = dict(imports=['mm_iresnet'], allow_failed_imports=False)

model = dict(backbone=dict(type='IResNet3dSlowOnly'))
