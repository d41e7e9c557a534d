# The RGB pathway of RGBPoseConv3D trained alone (mmaction2's rgb_only config
# with the backbone swapped): a SlowOnly iResNet-50 on 8 NTU-60 RGB frames.
_base_ = 'mmaction::skeleton/posec3d/rgbpose_conv3d/rgb_only.py'

custom_imports = dict(imports=['mm_iresnet'], allow_failed_imports=False)

model = dict(backbone=dict(type='IResNet3dSlowOnly'))
