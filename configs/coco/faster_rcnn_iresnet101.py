_base_ = './faster_rcnn_iresnet50.py'

pretrained = 'checkpoints/iresnet101_imagenet_mm.pth'
model = dict(
    backbone=dict(
        depth=101, init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
