# Top-down keypoint demo: mmpose's SimpleBaseline (heatmaps from
# deconvolutions on the last stage) with an iResNet-18 backbone trained from
# scratch on the generated figures set (stick figures with the 17 COCO
# keypoints, written to data/demo_figures/ on first use as a COCO
# person-keypoints set). Sized for a 2-core CPU: 64x64 crops, half-width
# backbone whose last stage is dilated instead of strided (stride 16: 4x4
# features), two slim deconvolutions to 16x16 heatmaps; mmpose's own
# CocoDataset (as FiguresDataset), pipeline, MSRAHeatmap codec, HeatmapHead,
# CocoMetric (OKS AP with COCO's sigmas, ground-truth boxes) and
# tools/train.py. No box jitter or rotation (RandomBBoxTransform): with it,
# and heatmap sigma 1.5, the AP after 100 iterations was 0.015, not 0.28.
_base_ = ('mmpose::body_2d_keypoint/topdown_heatmap/coco/'
          'td-hm_res50_8xb64-210e_coco-256x192.py')

custom_imports = dict(
    imports=['mm_iresnet', 'mm_iresnet.datasets.figures_dataset'],
    allow_failed_imports=False)

data_root = 'data/demo_figures/'
width = 32  # backbone base width (64 in the full network)
codec = dict(
    type='MSRAHeatmap', input_size=(64, 64), heatmap_size=(16, 16), sigma=2)

model = dict(
    backbone=dict(
        type='IResNet',
        depth=18,
        base_channels=width,
        stem_channels=width,
        strides=(1, 2, 2, 1),
        dilations=(1, 1, 1, 2),
        init_cfg=None),
    head=dict(
        in_channels=width * 8,
        deconv_out_channels=(64, 64),
        deconv_kernel_sizes=(4, 4),
        decoder=codec))

dataset_type = 'FiguresDataset'
generate = dict(num_train=2000, num_val=200, image_size=96, seed=0)
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs')
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs')
]
train_dataloader = dict(
    batch_size=32,
    num_workers=1,
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        data_mode='topdown',
        ann_file='annotations/person_keypoints_train.json',
        data_prefix=dict(img='train/'),
        generate=generate,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=50,
    num_workers=1,
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        data_mode='topdown',
        ann_file='annotations/person_keypoints_val.json',
        bbox_file=None,  # ground-truth boxes
        data_prefix=dict(img='val/'),
        generate=generate,
        test_mode=True,
        pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='CocoMetric',
    ann_file=data_root + 'annotations/person_keypoints_val.json')
test_evaluator = val_evaluator

max_iters = 400
train_cfg = dict(
    _delete_=True,
    type='IterBasedTrainLoop',
    max_iters=max_iters,
    val_interval=max_iters // 4)
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=2e-3, weight_decay=1e-4),
    clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(
        type='CosineAnnealingLR',
        eta_min=2e-5,
        begin=50,
        end=max_iters,
        T_max=max_iters - 50,
        by_epoch=False)
]
auto_scale_lr = dict(base_batch_size=32)
default_hooks = dict(
    logger=dict(interval=20, log_metric_by_epoch=False),
    checkpoint=dict(
        by_epoch=False,
        interval=max_iters // 2,
        max_keep_ckpts=2,
        save_best='coco/AP',
        rule='greater'))
custom_hooks = [dict(type='PlotCurvesHook')]
log_processor = dict(by_epoch=False)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
