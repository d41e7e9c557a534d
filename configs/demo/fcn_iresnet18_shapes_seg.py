# Semantic segmentation demo: mmseg's FCN (output stride 8) with an
# iResNet-18 backbone trained from scratch on the generated shapes images
# with per-pixel labels (written to data/demo_shapes_seg/ on first use).
# Sized for a 2-core CPU: 128x128 images, half-width backbone, slim heads;
# mmseg's own dataset base, pipeline, IoUMetric (mIoU) and tools/train.py.
_base_ = 'mmseg::fcn/fcn_r18-d8_4xb2-80k_cityscapes-512x1024.py'

custom_imports = dict(
    imports=['mm_iresnet', 'mm_iresnet.datasets.shapes_seg_dataset'],
    allow_failed_imports=False)

data_root = 'data/demo_shapes_seg/'
image_size = 128
num_classes = 5  # background and the four shapes
width = 32  # backbone base width (64 in the full network)
norm_cfg = dict(type='BN', requires_grad=True)  # one process, no SyncBN
# the background is about 90% of the pixels: weighted down in both losses,
# so the shapes' pixels are learnt within the demo's few hundred iterations
class_weight = [0.2, 1.0, 1.0, 1.0, 1.0]

model = dict(
    pretrained=None,
    data_preprocessor=dict(size=(image_size, image_size)),
    backbone=dict(
        type='IResNet',
        base_channels=width,
        stem_channels=width,
        norm_cfg=norm_cfg,
        init_cfg=None),
    decode_head=dict(
        in_channels=width * 8,
        channels=64,
        num_classes=num_classes,
        norm_cfg=norm_cfg,
        loss_decode=dict(class_weight=class_weight)),
    auxiliary_head=dict(
        in_channels=width * 4,
        channels=32,
        num_classes=num_classes,
        norm_cfg=norm_cfg,
        loss_decode=dict(class_weight=class_weight)))

dataset_type = 'ShapesSegDataset'
generate = dict(num_train=1200, num_val=200, image_size=image_size, seed=0)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(
            img_path='img_dir/train', seg_map_path='ann_dir/train'),
        generate=generate,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=1,
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'),
        generate=generate,
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

max_iters = 600
train_cfg = dict(max_iters=max_iters, val_interval=max_iters // 4)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=5e-3, weight_decay=1e-4),
    clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(
        type='PolyLR',
        eta_min=2e-5,
        power=0.9,
        begin=50,
        end=max_iters,
        by_epoch=False)
]
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=max_iters // 2, max_keep_ckpts=2))
custom_hooks = [dict(type='PlotCurvesHook')]
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
