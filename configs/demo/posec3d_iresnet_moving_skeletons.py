# Skeleton demo: PoseC3D (mmaction2's NTU-60 config with the backbone
# swapped) trained from scratch on the generated moving-skeletons set
# (data/demo_moving_skeletons/, written on first use): 17-keypoint figures
# whose motion is the label, which no single frame shows. mmaction2's own
# PoseDataset and pose pipeline turn the keypoints into heatmap volumes;
# scaled down for a CPU: 32x32 heatmaps, 8 frames, 6 classes.
_base_ = ('mmaction::skeleton/posec3d/'
          'slowonly_r50_8xb16-u48-240e_ntu60-xsub-keypoint.py')

custom_imports = dict(
    imports=['mm_iresnet', 'mm_iresnet.datasets.moving_skeletons_dataset'],
    allow_failed_imports=False)

data_root = 'data/demo_moving_skeletons/'
generate = dict(
    num_train=480, num_val=120, num_frames=16, image_size=64, seed=0)
clip_len = 8
heatmap = 32

model = dict(
    backbone=dict(type='IResNet3dSlowOnly'),
    cls_head=dict(num_classes=6, dropout_ratio=0.2))

dataset_type = 'MovingSkeletonsDataset'
# no Flip: mirroring would swap 'left' and 'right', the labels
train_pipeline = [
    dict(type='UniformSampleFrames', clip_len=clip_len),
    dict(type='PoseDecode'),
    dict(type='PoseCompact', hw_ratio=1., allow_imgpad=True),
    dict(type='Resize', scale=(-1, heatmap * 8 // 7)),
    dict(type='RandomResizedCrop', area_range=(0.56, 1.0)),
    dict(type='Resize', scale=(heatmap, heatmap), keep_ratio=False),
    dict(
        type='GeneratePoseTarget',
        sigma=0.6,
        use_score=True,
        with_kp=True,
        with_limb=False),
    dict(type='FormatShape', input_format='NCTHW_Heatmap'),
    dict(type='PackActionInputs')
]
val_pipeline = [
    dict(
        type='UniformSampleFrames',
        clip_len=clip_len,
        num_clips=1,
        test_mode=True),
    dict(type='PoseDecode'),
    dict(type='PoseCompact', hw_ratio=1., allow_imgpad=True),
    dict(type='Resize', scale=(-1, heatmap)),
    dict(type='CenterCrop', crop_size=heatmap),
    dict(
        type='GeneratePoseTarget',
        sigma=0.6,
        use_score=True,
        with_kp=True,
        with_limb=False),
    dict(type='FormatShape', input_format='NCTHW_Heatmap'),
    dict(type='PackActionInputs')
]
train_dataloader = dict(
    batch_size=16,
    num_workers=1,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        generate=generate,
        split='train',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16,
    num_workers=1,
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        generate=generate,
        split='val',
        pipeline=val_pipeline,
        test_mode=True))
test_dataloader = val_dataloader

max_iters = 120
train_cfg = dict(
    _delete_=True,
    type='IterBasedTrainLoop',
    max_iters=max_iters,
    val_interval=max_iters // 4)  # four validations: the curve shows learning
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=2e-3, weight_decay=1e-4),
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
