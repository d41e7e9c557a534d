# SimpleBaseline top-down heatmaps on COCO keypoints, 210 epochs, 256x192:
# mmpose's own config with an iResNet-50 backbone. Data in mmpose's layout
# under data/coco/ (docs/recipes.md).
_base_ = ('mmpose::body_2d_keypoint/topdown_heatmap/coco/'
          'td-hm_res50_8xb64-210e_coco-256x192.py')

# Every difference from the base, one per line (tests/test_config_fidelity.py)
# differs: custom_imports  (registers the iResNet backbones)
# differs: model.backbone.type  (the swap: ResNet -> IResNet, same arguments)
# differs: model.backbone.init_cfg.checkpoint  (ImageNet iResNet-50, by name)
custom_imports = dict(imports=['mm_iresnet'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        type='IResNet',
        init_cfg=dict(type='Pretrained', checkpoint='iresnet://iresnet50')))
