_base_ = './faster_rcnn_iresnet50.py'

pretrained = 'iresnet://iresnet101'
model = dict(
    backbone=dict(
        depth=101, init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
