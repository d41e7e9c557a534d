# Faster R-CNN + FPN on COCO, 1x, with an iResGroup-50 backbone (grouped
# iResNet bottlenecks, official `iresgroup`). Its stages output 128/256/512/
# 1024 channels, so the FPN takes those.
_base_ = './faster_rcnn_iresnet50.py'

# differs: model.backbone.type  (IResGroup)
# differs: model.backbone.init_cfg.checkpoint  (official ImageNet iResGroup-50)
# differs: model.neck.in_channels  (iResGroup's stage widths 128/256/512/1024)
model = dict(
    backbone=dict(
        type='IResGroup',
        init_cfg=dict(type='Pretrained', checkpoint='iresnet://iresgroup50')),
    neck=dict(in_channels=[128, 256, 512, 1024]))
