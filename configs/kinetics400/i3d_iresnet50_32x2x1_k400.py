# I3D with an inflated iResNet-50 on Kinetics-400, 32x2x1 clips. Everything
# but the backbone comes from mmaction2's own I3D config (I3D inflation
# pattern, stem (5,7,7) with temporal stride 2, pool1_stride_t=2: iResNet has
# no stem pool, so that stride is taken by the first stage's start block).
_base_ = ('mmaction::recognition/i3d/'
          'i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb.py')

custom_imports = dict(imports=['mm_iresnet'], allow_failed_imports=False)

# Official 2D ImageNet weights of iResNet-50 (downloaded, converted and cached
# on first use; docs/weights.md), inflated to 3D.
pretrained = 'iresnet://iresnet50'

model = dict(
    backbone=dict(type='IResNet3d', pretrained=pretrained, pretrained2d=True))

# Videos and lists in mmaction2's layout (as the base config):
#   data/kinetics400/videos_{train,val}/, kinetics400_{train,val}_list_videos.txt
# Batch: 8 GPUs x 8 clips; `--auto-scale-lr` rescales the lr for another total.
auto_scale_lr = dict(enable=False, base_batch_size=64)
