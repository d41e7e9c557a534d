# Mask R-CNN iResNet-50 FPN, 1x, with the backbone's BN synchronised across
# GPUs and trained (norm_eval=False), as for large-batch training.
_base_ = './mask_rcnn_iresnet50.py'

# differs: model.backbone.norm_cfg.type  (SyncBN instead of BN)
# differs: model.backbone.norm_eval  (False: BN statistics and affine trained)
model = dict(
    backbone=dict(
        norm_cfg=dict(type='SyncBN', requires_grad=True), norm_eval=False))
