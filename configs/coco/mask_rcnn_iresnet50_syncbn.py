# Multi-GPU variant: backbone BN synchronised across GPUs and trained
# (norm_eval=False), as for from-scratch or large-batch training. Launch with
#   bash tools/dist_train.sh configs/coco/faster_rcnn_iresnet50_syncbn.py 8
_base_ = './mask_rcnn_iresnet50.py'

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(backbone=dict(norm_cfg=norm_cfg, norm_eval=False))
