# DeepLabV3+ on Cityscapes, 80k iterations, 512x1024 crops, output stride 8:
# mmseg's own config with an iResNet-101 backbone. Data in mmseg's layout under
# data/cityscapes/ (docs/recipes.md).
_base_ = ('mmseg::deeplabv3plus/'
          'deeplabv3plus_r101-d8_4xb2-80k_cityscapes-512x1024.py')

# Every difference from the base, one per line (tests/test_config_fidelity.py)
# differs: custom_imports  (registers the iResNet backbones)
# differs: model.backbone.type  (the swap: ResNetV1c -> IResNet, mmseg's own
#   arguments; the plain stem: the official ImageNet weights have no deep stem)
# differs: model.pretrained  (None: ResNet-V1c weights do not fit an iResNet)
# differs: model.backbone.init_cfg  (ImageNet iResNet-101, by name)
custom_imports = dict(imports=['mm_iresnet'], allow_failed_imports=False)
model = dict(
    pretrained=None,
    backbone=dict(
        type='IResNet',
        init_cfg=dict(type='Pretrained', checkpoint='iresnet://iresnet101')))
