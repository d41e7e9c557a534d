# TSM (Recognizer2D, 8 segments) on Something-Something-v2: mmaction2's own
# TSM SSv2 config with an iResNet-50 + temporal shift. Its training pipeline
# is mmaction2's: the horizontal flip swaps the labels of the left/right
# class pairs (flip_label_map), since the motion direction is the label.
_base_ = ('mmaction::recognition/tsm/'
          'tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_sthv2-rgb.py')

# Every difference from the base, one per line (tests/test_config_fidelity.py)
# differs: custom_imports  (registers the iResNet backbones)
# differs: model.backbone.type  (the swap: ResNetTSM -> IResNetTSM)
# differs: model.backbone.pretrained  (ImageNet iResNet-50)
custom_imports = dict(imports=['mm_iresnet'], allow_failed_imports=False)
model = dict(
    backbone=dict(type='IResNetTSM', pretrained='iresnet://iresnet50'))
