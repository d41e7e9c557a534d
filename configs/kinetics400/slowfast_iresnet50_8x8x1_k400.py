# SlowFast (8x8, tau 4, alpha 4, beta 8) with iResNet-50 pathways on
# Kinetics-400: mmaction2's own SlowFast R50 config with only the backbone
# changed. Both pathways are IResNet3d (ResStage, improved projection, no stem
# pool); the laterals join features of equal size and frame rate. As the base
# config, it trains from scratch; to start the slow pathway from the 2D
# ImageNet iResNet-50, add
#   model.backbone.slow_pathway.pretrained=iresnet://iresnet50
# (inflated; the lateral inputs start at zero).
_base_ = ('mmaction::recognition/slowfast/'
          'slowfast_r50_8xb8-8x8x1-256e_kinetics400-rgb.py')

custom_imports = dict(imports=['mm_iresnet'], allow_failed_imports=False)

model = dict(backbone=dict(type='IResNet3dSlowFast'))

# Videos and lists in mmaction2's layout (as the base config):
#   data/kinetics400/videos_{train,val}/, kinetics400_{train,val}_list_videos.txt
# Batch: 8 GPUs x 8 clips; `--auto-scale-lr` rescales the lr for another total.
auto_scale_lr = dict(enable=False, base_batch_size=64)
