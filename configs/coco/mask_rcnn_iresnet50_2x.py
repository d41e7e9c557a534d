# Mask R-CNN + FPN on COCO, 2x (24 epochs): mmdet's own config with an
# iResNet-50 backbone. Data: mmdet's layout under data/coco/ (docs/recipes.md).
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_2x_coco.py'

# Every difference from the base, one per line (tests/test_config_fidelity.py)
# differs: custom_imports  (registers the iResNet backbones)
# differs: model.backbone.type  (the swap: ResNet -> IResNet, same arguments)
# differs: model.backbone.init_cfg.checkpoint  (ImageNet iResNet-50)
custom_imports = dict(imports=['mm_iresnet'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        type='IResNet',
        init_cfg=dict(type='Pretrained', checkpoint='iresnet://iresnet50')))
