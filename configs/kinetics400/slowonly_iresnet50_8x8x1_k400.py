# SlowOnly 8x8x1 with an inflated iResNet-50 on Kinetics-400 (mmaction2's own
# SlowOnly config with the backbone swapped).
_base_ = ('mmaction::recognition/slowonly/'
          'slowonly_imagenet-pretrained-r50_8xb16-8x8x1-steplr-150e_'
          'kinetics400-rgb.py')

custom_imports = dict(imports=['mm_iresnet'], allow_failed_imports=False)

# official ImageNet iResNet-50 (docs/weights.md)
pretrained = 'iresnet://iresnet50'

model = dict(
    backbone=dict(
        type='IResNet3dSlowOnly', pretrained=pretrained, pretrained2d=True))

# Batch: 8 GPUs x 16 clips.
auto_scale_lr = dict(enable=False, base_batch_size=128)
