# TSN (Recognizer2D, 8 segments) on Something-Something-v2: mmaction2's own
# TSN SSv2 config with an iResNet-50. `type='IResNet'` in an mmaction config
# is the mmaction flavour (IResNetAction: mmaction's ResNet arguments, a
# tensor out, BN trained).
_base_ = ('mmaction::recognition/tsn/'
          'tsn_imagenet-pretrained-r50_8xb32-1x1x8-50e_sthv2-rgb.py')

# Every difference from the base, one per line (tests/test_config_fidelity.py)
# differs: custom_imports  (registers the iResNet backbones)
# differs: model.backbone.type  (the swap: mmaction's ResNet -> IResNet)
# differs: model.backbone.pretrained  (ImageNet iResNet-50)
custom_imports = dict(imports=['mm_iresnet'], allow_failed_imports=False)
model = dict(backbone=dict(type='IResNet', pretrained='iresnet://iresnet50'))
