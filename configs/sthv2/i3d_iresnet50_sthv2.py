# I3D with an inflated iResNet-50 on Something-Something-v2 (174 classes).
# mmaction2 has no I3D SSv2 config: this is the Kinetics-400 I3D config
# (../kinetics400/i3d_iresnet50_32x2x1_k400.py) on SSv2 videos in mmaction2's
# layout under data/sthv2/. Its horizontal flip swaps the labels of the
# left/right class pairs, as mmaction2's TSM SSv2 config does: the motion
# direction is the label.
_base_ = '../kinetics400/i3d_iresnet50_32x2x1_k400.py'

# Every difference from the base, one per line (tests/test_config_fidelity.py)
# differs: model.cls_head.num_classes  (174 SSv2 classes)
# differs: train_dataloader.dataset.ann_file  (the SSv2 lists)
# differs: val_dataloader.dataset.ann_file
# differs: test_dataloader.dataset.ann_file
# differs: train_dataloader.dataset.data_prefix.video  (the SSv2 videos)
# differs: val_dataloader.dataset.data_prefix.video
# differs: test_dataloader.dataset.data_prefix.video
# differs: train_dataloader.dataset.pipeline.6.flip_label_map  (SSv2 pairs)
# differs: train_pipeline  (the same pipeline, as the config variable)
model = dict(cls_head=dict(num_classes=174))

train_pipeline = [
    dict(type='DecordInit', io_backend='disk'),
    dict(type='SampleFrames', clip_len=32, frame_interval=2, num_clips=1),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(
        type='MultiScaleCrop',
        input_size=224,
        scales=(1, 0.8),
        random_crop=False,
        max_wh_scale_gap=0),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(
        type='Flip',
        flip_ratio=0.5,
        flip_label_map={
            86: 87,
            87: 86,
            93: 94,
            94: 93,
            166: 167,
            167: 166
        }),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
train_dataloader = dict(
    dataset=dict(
        ann_file='data/sthv2/sthv2_train_list_videos.txt',
        data_prefix=dict(video='data/sthv2/videos'),
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        ann_file='data/sthv2/sthv2_val_list_videos.txt',
        data_prefix=dict(video='data/sthv2/videos')))
test_dataloader = val_dataloader
