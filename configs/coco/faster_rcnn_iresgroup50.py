# Faster R-CNN + FPN with an iResGroup-50 backbone (grouped iResNet
# bottlenecks, official `iresgroup`), COCO 1x. Its stages output 128/256/512/
# 1024 channels, so the FPN takes those.
_base_ = './faster_rcnn_iresnet50.py'

pretrained = 'iresnet://iresgroup50'
model = dict(
    backbone=dict(
        type='IResGroup',
        depth=50,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[128, 256, 512, 1024]))
