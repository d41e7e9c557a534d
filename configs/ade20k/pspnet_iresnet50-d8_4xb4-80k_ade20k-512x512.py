# PSPNet on ADE20K, 80k iterations, 512x512, output stride 8: mmseg's own
# config with an iResNet-50 backbone. Data in mmseg's layout under
# data/ade/ADEChallengeData2016/ (docs/recipes.md).
_base_ = 'mmseg::pspnet/pspnet_r50-d8_4xb4-80k_ade20k-512x512.py'

# Every difference from the base, one per line (tests/test_config_fidelity.py)
# differs: custom_imports  (registers the iResNet backbones)
# differs: model.backbone.type  (the swap: ResNetV1c -> IResNet, mmseg's own
#   arguments; the plain stem: the official ImageNet weights have no deep stem)
# differs: model.pretrained  (None: ResNet-V1c weights do not fit an iResNet)
# differs: model.backbone.init_cfg  (ImageNet iResNet-50, by name)
custom_imports = dict(imports=['mm_iresnet'], allow_failed_imports=False)
model = dict(
    pretrained=None,
    backbone=dict(
        type='IResNet',
        init_cfg=dict(type='Pretrained', checkpoint='iresnet://iresnet50')))
