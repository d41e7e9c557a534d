# TSM (Recognizer2D, 8 segments) with an iResNet-50 + temporal shift on
# Something-Something-v2: mmaction2's own TSM SSv2 config with the backbone
# swapped and the horizontal flip removed (motion direction is the label).
_base_ = ('mmaction::recognition/tsm/'
          'tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_sthv2-rgb.py')

custom_imports = dict(imports=['mm_iresnet'], allow_failed_imports=False)

# official ImageNet iResNet-50 (docs/weights.md)
pretrained = 'iresnet://iresnet50'

model = dict(
    backbone=dict(
        type='IResNetTSM',
        pretrained=pretrained,
        num_segments=8,
        shift_div=8))

file_client_args = dict(io_backend='disk')
train_pipeline = [
    dict(type='DecordInit', **file_client_args),
    dict(type='SampleFrames', clip_len=1, frame_interval=1, num_clips=8),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(
        type='MultiScaleCrop',
        input_size=224,
        scales=(1, 0.875, 0.75, 0.66),
        random_crop=False,
        max_wh_scale_gap=1,
        num_fixed_crops=13),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

# Batch: 8 GPUs x 16 clips (as the base config).
auto_scale_lr = dict(enable=False, base_batch_size=128)
