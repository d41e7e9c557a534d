# TSN (Recognizer2D, 8 segments) with an iResNet-50 on Something-Something-v2:
# mmaction2's own TSN SSv2 config with only the backbone and its checkpoint
# changed. `type='IResNet'` in an mmaction config is the mmaction flavour
# (IResNetAction: mmaction's ResNet arguments, a tensor out, BN trained).
_base_ = ('mmaction::recognition/tsn/'
          'tsn_imagenet-pretrained-r50_8xb32-1x1x8-50e_sthv2-rgb.py')

custom_imports = dict(imports=['mm_iresnet'], allow_failed_imports=False)

# Official ImageNet weights of iResNet-50 (docs/weights.md).
model = dict(
    backbone=dict(type='IResNet', pretrained='iresnet://iresnet50'))

# Videos and lists in mmaction2's layout (as the base config):
#   data/sthv2/videos/, sthv2_{train,val}_list_videos.txt
# Batch: 8 GPUs x 32 clips; `--auto-scale-lr` rescales the lr for another total.
auto_scale_lr = dict(enable=False, base_batch_size=256)
