# PoseC3D with a SlowOnly iResNet-50 pathway on NTU-60 X-Sub 2D keypoints
# (mmaction2's own PoseC3D config with the backbone swapped): 17-channel
# keypoint heatmap volumes of 48 frames, trained from scratch.
_base_ = ('mmaction::skeleton/posec3d/'
          'slowonly_r50_8xb16-u48-240e_ntu60-xsub-keypoint.py')

custom_imports = dict(imports=['mm_iresnet'], allow_failed_imports=False)

model = dict(backbone=dict(type='IResNet3dSlowOnly'))

# Batch: 8 GPUs x 16 clips.
auto_scale_lr = dict(enable=False, base_batch_size=128)
