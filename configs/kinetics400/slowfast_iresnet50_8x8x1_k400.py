# SlowFast 8x8 (tau 4, alpha 4, beta 8) on Kinetics-400: mmaction2's own
# SlowFast R50 config with iResNet-50 pathways (ResStage, improved projection,
# no stem pool; the laterals join features of equal size and frame rate).
# As the base config, it trains from scratch; to start the slow pathway from
# the 2D ImageNet iResNet-50 (inflated; the lateral inputs start at zero), add
#   --cfg-options model.backbone.slow_pathway.pretrained=iresnet://iresnet50
_base_ = ('mmaction::recognition/slowfast/'
          'slowfast_r50_8xb8-8x8x1-256e_kinetics400-rgb.py')

# Every difference from the base, one per line (tests/test_config_fidelity.py)
# differs: custom_imports  (registers the iResNet backbones)
# differs: model.backbone.type  (the swap: was ResNet3dSlowFast)
# differs: auto_scale_lr  (none in the base: 8 GPUs x 8 clips)
custom_imports = dict(imports=['mm_iresnet'], allow_failed_imports=False)
model = dict(backbone=dict(type='IResNet3dSlowFast'))
auto_scale_lr = dict(enable=False, base_batch_size=64)
