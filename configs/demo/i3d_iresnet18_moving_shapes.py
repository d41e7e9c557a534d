# Video demo: I3D with an inflated iResNet-18 trained from scratch on the
# generated moving-shapes clips (data/demo_moving_shapes/, written on first
# use). The label is the direction of motion, which no single frame shows.
_base_ = 'mmaction::_base_/default_runtime.py'

custom_imports = dict(
    imports=['mm_iresnet', 'mm_iresnet.datasets.moving_shapes_dataset'],
    allow_failed_imports=False)

data_root = 'data/demo_moving_shapes/'
generate = dict(
    num_train=480, num_val=120, num_frames=12, image_size=64, seed=0)
clip_len = 8
width = 16

model = dict(
    type='Recognizer3D',
    backbone=dict(
        type='IResNet3d',
        depth=18,
        base_channels=width,
        pretrained=None,
        conv1_kernel=(3, 7, 7),
        conv1_stride_t=1,
        pool1_stride_t=1,
        with_pool2=False,
        inflate=(1, 1, 1, 1),
        norm_eval=False),
    cls_head=dict(
        type='I3DHead',
        num_classes=6,
        in_channels=width * 8,
        spatial_type='avg',
        dropout_ratio=0.2,
        init_std=0.01,
        average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[127.5, 127.5, 127.5],
        std=[64.0, 64.0, 64.0],
        format_shape='NCTHW'))

dataset_type = 'MovingShapesDataset'
train_pipeline = [
    dict(
        type='SampleFrames', clip_len=clip_len, frame_interval=1, num_clips=1),
    dict(type='RawFrameDecode'),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
val_pipeline = [
    dict(
        type='SampleFrames',
        clip_len=clip_len,
        frame_interval=1,
        num_clips=1,
        test_mode=True),
    dict(type='RawFrameDecode'),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
train_dataloader = dict(
    batch_size=16,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='train_list.txt',
        data_prefix=dict(img=''),
        generate=generate,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='val_list.txt',
        data_prefix=dict(img=''),
        generate=generate,
        pipeline=val_pipeline,
        test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='AccMetric')
test_evaluator = val_evaluator

max_iters = 1200
train_cfg = dict(
    type='IterBasedTrainLoop',
    max_iters=max_iters,
    val_interval=max_iters // 4)  # four validations: the curve shows learning
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4),
    clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.05, by_epoch=False, begin=0, end=30),
    dict(
        type='CosineAnnealingLR',
        by_epoch=False,
        begin=30,
        end=max_iters,
        eta_min=2e-5)
]
auto_scale_lr = dict(enable=False, base_batch_size=16)

default_hooks = dict(
    # validation metrics logged at their training iteration
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    checkpoint=dict(
        type='CheckpointHook',
        by_epoch=False,
        interval=max_iters,
        max_keep_ckpts=1))
custom_hooks = [
    dict(type='FiniteLossHook'),  # stop at a NaN loss, naming the iteration
    dict(type='PlotCurvesHook'),  # loss/lr/metric PNGs in the work_dir
]
log_processor = dict(by_epoch=False)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
