# I3D 32x2x1 on Kinetics-400: mmaction2's own I3D config with an inflated
# iResNet-50 (I3D inflation pattern, stem (5,7,7) with temporal stride 2,
# pool1_stride_t=2; iResNet has no stem pool, so its spatial stride is taken
# by the first stage's start block). Data: mmaction2's layout under
# data/kinetics400/ (docs/recipes.md).
_base_ = ('mmaction::recognition/i3d/'
          'i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb.py')

# Every difference from the base, one per line (tests/test_config_fidelity.py)
# differs: custom_imports  (registers the iResNet backbones)
# differs: model.backbone.type  (the swap: ResNet3d -> IResNet3d)
# differs: model.backbone.pretrained  (ImageNet iResNet-50, inflated to 3D)
custom_imports = dict(imports=['mm_iresnet'], allow_failed_imports=False)
model = dict(backbone=dict(type='IResNet3d', pretrained='iresnet://iresnet50'))
