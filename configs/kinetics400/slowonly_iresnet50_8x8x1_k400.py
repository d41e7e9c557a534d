# SlowOnly 8x8x1 on Kinetics-400: mmaction2's own SlowOnly config with an
# inflated iResNet-50. Data: mmaction2's layout under data/kinetics400/
# (docs/recipes.md).
_base_ = ('mmaction::recognition/slowonly/'
          'slowonly_imagenet-pretrained-r50_8xb16-8x8x1-steplr-150e_'
          'kinetics400-rgb.py')

# Every difference from the base, one per line (tests/test_config_fidelity.py)
# differs: custom_imports  (registers the iResNet backbones)
# differs: model.backbone.type  (the swap: was ResNet3dSlowOnly)
# differs: model.backbone.pretrained  (ImageNet iResNet-50, inflated to 3D)
custom_imports = dict(imports=['mm_iresnet'], allow_failed_imports=False)
model = dict(
    backbone=dict(type='IResNet3dSlowOnly', pretrained='iresnet://iresnet50'))
