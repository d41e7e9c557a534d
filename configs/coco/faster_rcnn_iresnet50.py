# Faster R-CNN + FPN with an iResNet-50 backbone, COCO, 1x schedule.
# Everything but the backbone comes from mmdet's own config.
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['mm_iresnet'], allow_failed_imports=False)

# Official ImageNet weights of iResNet-50, downloaded, converted and cached on
# first use (docs/weights.md; offline: tools/download_weights.py iresnet50).
pretrained = 'iresnet://iresnet50'
data_root = 'data/coco/'

model = dict(
    backbone=dict(
        type='IResNet',
        depth=50,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))

train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

# The schedule assumes 8 GPUs x 2 images; `--auto-scale-lr` rescales the lr
# linearly for another total batch size.
auto_scale_lr = dict(enable=False, base_batch_size=16)
