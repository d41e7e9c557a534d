"""The mmengine Runner used by this package's tools (:class:`PortableRunner`).

It is mmengine's Runner with two additions that make the same configs run on
GPUs and on CPU-only machines, and keep checkpoint loading safe.

**CPU-only machines.** mmengine 0.10.7's ``launcher='pytorch'`` path assumes
CUDA (``torch.cuda.set_device``, DDP ``device_ids``) and mmdet's runtime asks
for NCCL. Without CUDA the runner joins the process group over gloo and wraps
the model in DDP without device ids; SyncBN layers, which need GPUs, are
converted to plain BN with a warning (each process then normalises with its
own batch statistics). With CUDA nothing changes.

**Checkpoints.** Every load the runner makes (``--resume``, ``load_from``,
the CHECKPOINT of ``tools/test.py``, the pretrained weights of the model's
``init_weights``) follows the package's load rule
(:mod:`mm_iresnet.checkpoint`): tensors, plain containers and the types
mmengine writes into a training checkpoint (``HistoryBuffer``, numpy), any
other object refused, on every torch version and whatever ``weights_only``
mmengine passes to ``torch.load``.

**Crash safety.** A checkpoint is written under a temporary name and renamed
into place, so a kill during a save never leaves a truncated ``iter_N.pth``;
auto-resume (``--resume`` without a path) takes the newest complete
checkpoint of the work_dir, also when ``last_checkpoint`` is missing, stale
or damaged.
"""
import glob
import inspect
import os
import os.path as osp
import re
import zipfile
from typing import Optional

import torch
import torch.distributed as torch_dist
from mmengine.dist import is_distributed, master_only
from mmengine.model import MMDistributedDataParallel, revert_sync_batchnorm
from mmengine.registry import RUNNERS
from mmengine.runner import Runner, find_latest_checkpoint

from .checkpoint import restricted_torch_load

__all__ = ['PortableRunner']

#: mmengine's ``Runner.save_checkpoint`` parameters, to read its arguments
#: by name whatever their positions
_SAVE_SIGNATURE = inspect.signature(Runner.save_checkpoint)


@RUNNERS.register_module()
class PortableRunner(Runner):
    """mmengine Runner with the CPU and checkpoint rules of the module doc."""

    # --------------------------------------------------------- CPU-only
    def setup_env(self, env_cfg: dict) -> None:
        if self.distributed and not is_distributed() and \
                not torch.cuda.is_available():
            if self.launcher != 'pytorch':
                raise RuntimeError(
                    f'launcher={self.launcher!r} without CUDA: on CPU-only '
                    'machines launch with torchrun (tools/dist_train.sh, '
                    'launcher pytorch)')
            asked = (env_cfg.get('dist_cfg') or {}).get('backend', 'nccl')
            torch_dist.init_process_group(
                backend='gloo',
                rank=int(os.environ['RANK']),
                world_size=int(os.environ['WORLD_SIZE']))
            self._cpu_backend_note = (
                f'no CUDA: distributed over gloo on CPU (the config asked '
                f'for {asked!r})')
        super().setup_env(env_cfg)

    def wrap_model(self, model_wrapper_cfg, model):
        # the logger exists from here on (it is built after setup_env)
        if getattr(self, '_cpu_backend_note', None):
            self.logger.warning(self._cpu_backend_note)
        if not torch.cuda.is_available():
            model = self._revert_sync_bn(model)
            if self.distributed and model_wrapper_cfg is None:
                return MMDistributedDataParallel(
                    module=model.to('cpu'),
                    broadcast_buffers=False,
                    find_unused_parameters=self.cfg.get(
                        'find_unused_parameters', False))
        return super().wrap_model(model_wrapper_cfg, model)

    def _revert_sync_bn(self, model):
        if not any(
                isinstance(m, torch.nn.SyncBatchNorm)
                for m in model.modules()):
            return model
        self.logger.warning(
            'SyncBN needs CUDA: converted to BN on this CPU-only machine; '
            'each process normalises with its own batch statistics')
        return revert_sync_batchnorm(model)

    # ------------------------------------------------------ checkpoints
    def load_checkpoint(self, filename: str, *args, **kwargs):
        with restricted_torch_load():
            return super().load_checkpoint(filename, *args, **kwargs)

    def _init_model_weights(self) -> None:
        with restricted_torch_load():
            super()._init_model_weights()

    # ---------------------------------------------------- crash safety
    @master_only
    def save_checkpoint(self, out_dir: str, filename: str, *args, **kwargs):
        given = _SAVE_SIGNATURE.bind(self, out_dir, filename, *args,
                                     **kwargs).arguments
        remote = '://' in str(out_dir) or given.get('backend_args') or \
            given.get('file_client_args')
        if remote:
            return super().save_checkpoint(out_dir, filename, *args, **kwargs)
        partial = f'.partial-{filename}'
        super().save_checkpoint(out_dir, partial, *args, **kwargs)
        os.replace(osp.join(out_dir, partial), osp.join(out_dir, filename))

    @staticmethod
    def is_complete_checkpoint(path: str) -> bool:
        """A whole torch zip archive (a truncated file is not)."""
        try:
            with zipfile.ZipFile(path) as archive:
                return archive.testzip() is None
        except (OSError, zipfile.BadZipFile):
            return False

    def find_resumable_checkpoint(self) -> Optional[str]:
        """The newest complete checkpoint in the work_dir: the one
        ``last_checkpoint`` names, else the highest ``iter_N``/``epoch_N``."""
        candidates = [find_latest_checkpoint(self.work_dir)]
        numbered = []
        for path in glob.glob(osp.join(self.work_dir, '*.pth')):
            m = re.fullmatch(r'(?:iter|epoch)_(\d+)\.pth', osp.basename(path))
            if m:
                numbered.append((int(m.group(1)), path))
        candidates += [p for _, p in sorted(numbered, reverse=True)]
        for path in candidates:
            if path and osp.isfile(path) and self.is_complete_checkpoint(path):
                return path
            if path:
                self.logger.warning(f'skipping {path}: missing or incomplete')
        return None

    def load_or_resume(self) -> None:
        if not self._has_loaded and self._resume and self._load_from is None:
            self._load_from = self.find_resumable_checkpoint()
            if self._load_from is None:
                self.logger.warning(
                    f'--resume: no complete checkpoint in {self.work_dir}; '
                    'starting from scratch')
                self._resume = False
        return super().load_or_resume()
