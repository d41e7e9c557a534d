"""RGBPoseConv3D with iResNet pathways (Duan et al. 2022, PoseC3D's
two-stream network), a drop-in for mmaction2's ``RGBPoseConv3D``.

An RGB pathway (a SlowOnly-style :class:`~.slowfast.IResNet3dPathway`) and a
pose pathway (a 3-stage one on keypoint heatmap volumes, at ``speed_ratio``
times the frame rate, 1 / ``channel_ratio`` of the width) run side by side,
pose stage ``i`` beside RGB stage ``i + 1``; after each pair of stages each
pathway takes the other's features through its own lateral
(``layer{i}_lateral``: a strided temporal conv into the RGB pathway, a
transposed one into the pose pathway), concatenated to its input, exactly
where mmaction's network joins them. The pathways are those of
:class:`~.slowfast.IResNet3dSlowFast` (ResStage layout, improved projection,
pool-less stem whose spatial stride moves into stage 1), so the laterals
join features of equal size; freezing and initialisation are the pathways'
own, ``pretrained`` loads a whole checkpoint (strict) as mmaction's.
"""
from typing import Optional, Tuple

import torch
from mmengine.registry import MODELS

from .slowfast import IResNet3dPathway, IResNet3dTwoPathway

__all__ = ['IRGBPoseConv3D']


@MODELS.register_module()
class IRGBPoseConv3D(IResNet3dTwoPathway):
    """mmaction's ``RGBPoseConv3D`` arguments and defaults.

    Args:
        pretrained (str, optional): a whole checkpoint of this network.
        speed_ratio (int): pose frames per RGB frame.
        channel_ratio (int): RGB channels per pose channel.
        rgb_detach / pose_detach (bool): stop the gradient of the features
            the RGB / pose pathway takes from the other one.
        rgb_drop_path / pose_drop_path (float): in training, the probability
            that the lateral into the RGB / pose pathway is zeroed for the
            whole batch (drawn once per forward).
        rgb_pathway / pose_pathway (dict): :class:`IResNet3dPathway`
            arguments (mmaction's ``ResNet3dPathway`` ones).
        init_cfg: kept for mmengine; ``init_weights`` ignores it, as
            mmaction's.

    Returns ``(rgb features, pose features)`` of the last stages.
    """

    def __init__(self,
                 pretrained: Optional[str] = None,
                 speed_ratio: int = 4,
                 channel_ratio: int = 4,
                 rgb_detach: bool = False,
                 pose_detach: bool = False,
                 rgb_drop_path: float = 0,
                 pose_drop_path: float = 0,
                 rgb_pathway: dict = dict(
                     num_stages=4,
                     lateral=True,
                     lateral_infl=1,
                     lateral_activate=(0, 0, 1, 1),
                     fusion_kernel=7,
                     base_channels=64,
                     conv1_kernel=(1, 7, 7),
                     inflate=(0, 0, 1, 1)),
                 pose_pathway: dict = dict(
                     num_stages=3,
                     stage_blocks=(4, 6, 3),
                     lateral=True,
                     lateral_inv=True,
                     lateral_infl=16,
                     lateral_activate=(0, 1, 1),
                     fusion_kernel=7,
                     in_channels=17,
                     base_channels=32,
                     out_indices=(2, ),
                     conv1_kernel=(1, 7, 7),
                     conv1_stride_s=1,
                     conv1_stride_t=1,
                     pool1_stride_s=1,
                     pool1_stride_t=1,
                     inflate=(0, 1, 1),
                     spatial_strides=(2, 2, 2),
                     temporal_strides=(1, 1, 1)),
                 init_cfg=None):
        super().__init__(pretrained, speed_ratio, channel_ratio, init_cfg)
        for name, p in (('rgb_drop_path', rgb_drop_path), ('pose_drop_path',
                                                           pose_drop_path)):
            if not 0 <= p <= 1:
                raise ValueError(f'{name} is a probability, got {p}')
        self.rgb_path = self.build_pathway(rgb_pathway)
        self.pose_path = self.build_pathway(pose_pathway)
        #: RGB stages run before the pose pathway's first one
        self.stage_offset = len(self.rgb_path.res_layers) - \
            len(self.pose_path.res_layers)
        if self.stage_offset < 0:
            raise ValueError('the pose pathway runs beside the last RGB '
                             'stages: give it no more stages than the RGB '
                             f'one ({len(self.pose_path.res_layers)} > '
                             f'{len(self.rgb_path.res_layers)})')
        self.rgb_detach = rgb_detach
        self.pose_detach = pose_detach
        self.rgb_drop_path = rgb_drop_path
        self.pose_drop_path = pose_drop_path

    @staticmethod
    def _lateral(path: IResNet3dPathway, stage: int, x: torch.Tensor,
                 detach: bool, drop: bool) -> Optional[torch.Tensor]:
        """What ``path`` adds to the input of its stage ``stage`` (index)
        from the other pathway's features ``x``, or None."""
        lateral = path.lateral_into(stage)
        if lateral is None:
            return None
        out = lateral(x.detach() if detach else x)
        return out.new_zeros(out.shape) if drop else out

    def forward(
            self, imgs: torch.Tensor,
            heatmap_imgs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """RGB clips and heatmap volumes, (N, C, T, H, W) each ->
        (RGB, pose) features of the last stages."""
        rgb, pose = self.rgb_path, self.pose_path
        rgb._check_input(imgs)
        pose._check_input(heatmap_imgs)
        drop_rgb = self.training and bool(torch.rand(1) < self.rgb_drop_path)
        drop_pose = self.training and \
            bool(torch.rand(1) < self.pose_drop_path)
        x_rgb, x_pose = rgb.forward_stem(imgs), pose.forward_stem(heatmap_imgs)
        last = len(rgb.res_layers) - 1
        for i, name in enumerate(rgb.res_layers):
            j = i - self.stage_offset  # the pose stage beside RGB stage i
            x_rgb = getattr(rgb, name)(x_rgb)
            if j < 0:
                continue
            x_pose = getattr(pose, pose.res_layers[j])(x_pose)
            if i == last:
                break
            into_rgb = self._lateral(rgb, i + 1, x_pose, self.rgb_detach,
                                     drop_rgb)
            into_pose = self._lateral(pose, j + 1, x_rgb, self.pose_detach,
                                      drop_pose)
            if into_rgb is not None:
                x_rgb = torch.cat((x_rgb, into_rgb), dim=1)
            if into_pose is not None:
                x_pose = torch.cat((x_pose, into_pose), dim=1)
        return x_rgb, x_pose
