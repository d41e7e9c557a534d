"""Whole detectors: a Faster R-CNN iResNet-50 train step against the same
detector with mmdet's ResNet-50, fp32 and with mixed precision (AMP: fp16
on CUDA, bf16 on CPU) and channels-last. AMP covers the backbone and neck,
where the two detectors differ; the heads run in fp32 (mmcv's CPU NMS takes
fp32 boxes only, and one code path serves both devices)."""
import os.path as osp

import torch

from .contenders import twin
from .harness import autocast_for, dtype_name, shuffled, sync

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def build_detectors(device):
    """The Faster R-CNN iResNet-50 config and the same detector with mmdet's
    ResNet-50; every weight outside the backbone shared."""
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', 'coco', 'faster_rcnn_iresnet50.py'))
    cfg.model.backbone.init_cfg = None
    ours = MODELS.build(cfg.model).to(device)
    base_cfg = cfg.model.copy()
    base_cfg.backbone = dict(cfg.model.backbone, type='ResNet')
    base = MODELS.build(base_cfg).to(device)
    base.load_state_dict(
        {
            k: v
            for k, v in ours.state_dict().items()
            if not k.startswith('backbone.')
        },
        strict=False)
    return ours, base


def amp_features(model, device, dtype):
    """Make ``model`` compute its features (backbone + neck) under autocast
    to ``dtype``, handing fp32 features to the heads."""
    extract = model.extract_feat

    def extract_feat(inputs):
        with autocast_for(device, dtype):
            feats = extract(inputs)
        return tuple(f.float() for f in feats)

    model.extract_feat = extract_feat
    return model


def detector_step(model, data, device, dtype=None, channels_last=False):
    """One train step: the model's own ``parse_losses`` sums the losses;
    features under autocast to ``dtype`` when given, with a gradient scaler
    for fp16."""
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.SGD(params, lr=1e-4, momentum=0.9)
    scaler = torch.amp.GradScaler(device, enabled=dtype == torch.float16)
    batch = model.data_preprocessor(data, training=True)
    inputs = batch['inputs']
    if dtype is not None:
        amp_features(model, device, dtype)
    if channels_last:
        model.to(memory_format=torch.channels_last)
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    model.train()

    def step():
        torch.manual_seed(0)  # same proposal sampling for both
        losses = model.loss(inputs, batch['data_samples'])
        loss, _ = model.parse_losses(losses)
        optim.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optim)
        scaler.update()
        sync(device)
        return loss

    return step


def detector_rows(args, rows, dtype):
    """fp32 rows, then ``dtype`` autocast + channels-last."""
    from mmdet.testing import demo_mm_inputs
    size = args.size * 2
    data = demo_mm_inputs(
        batch_size=args.batch,
        image_shapes=(3, size, size),
        num_items=[3] * args.batch)
    ours, base = build_detectors(args.device)
    control = twin(base)
    label = f'AMP {dtype_name(dtype)} backbone+neck, channels_last'
    for variant, kwargs in (('fp32', {}),
                            (label, dict(dtype=dtype, channels_last=True))):
        steps = {
            key: detector_step(model, data, args.device, **kwargs)
            for key, model in (('ours', ours), ('base', base), ('control',
                                                                control))
        }
        times = shuffled(steps, args.repeats, warmup=1, seed=args.seed)
        rows.timed(f'Faster R-CNN 50 @{size}', f'train step s ({variant})',
                   times)
