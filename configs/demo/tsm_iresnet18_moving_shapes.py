# Per-frame recognition of the moving-shapes clips with a 2D iResNet-18
# (Recognizer2D) and the temporal shift module: frames exchange features
# across time, as TSM does for SSv2. Compare with the TSN variant (no shift,
# tsn_iresnet18_moving_shapes.py), which sees each frame alone.
_base_ = './i3d_iresnet18_moving_shapes.py'

num_segments = 8
width = 16

model = dict(
    type='Recognizer2D',
    backbone=dict(
        _delete_=True,
        type='IResNetTSM',
        depth=18,
        base_channels=width,
        num_segments=num_segments,
        is_shift=True,
        shift_div=8,
        norm_eval=False),
    cls_head=dict(
        _delete_=True,
        type='TSMHead',
        num_classes=6,
        in_channels=width * 8,
        num_segments=num_segments,
        spatial_type='avg',
        consensus=dict(type='AvgConsensus', dim=1),
        dropout_ratio=0.2,
        init_std=0.01,
        is_shift=True,
        average_clips='prob'),
    data_preprocessor=dict(format_shape='NCHW'))

train_pipeline = [
    dict(
        type='SampleFrames',
        clip_len=1,
        frame_interval=1,
        num_clips=num_segments),
    dict(type='RawFrameDecode'),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs')
]
val_pipeline = [
    dict(
        type='SampleFrames',
        clip_len=1,
        frame_interval=1,
        num_clips=num_segments,
        test_mode=True),
    dict(type='RawFrameDecode'),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader
