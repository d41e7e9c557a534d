"""An mmengine Runner that loads only trusted checkpoints with full pickle.

torch >= 2.6 loads with ``weights_only=True`` by default. Checkpoints written
by mmengine's Runner hold more than tensors (the message hub's
``HistoryBuffer``, numpy scalars and arrays), so resuming or testing them
fails with an UnpicklingError. Turning the safety off for every load
(``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``) would also unpickle downloaded
weights. :class:`TrustedCheckpointRunner` instead un-pickles fully only the
checkpoints the user named on the command line (``--resume PATH``, the
CHECKPOINT of ``tools/test.py``) and those the run wrote itself (its
work_dir); every other load (``load_from`` URLs, pretrained init weights)
keeps ``weights_only=True`` and fails with a message that says so.
"""
import contextlib
import os.path as osp
import pickle
from typing import Iterable

import torch
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

__all__ = ['TrustedCheckpointRunner', 'full_pickle_torch_load']


@contextlib.contextmanager
def full_pickle_torch_load():
    """Within the block, ``torch.load`` defaults to ``weights_only=False``
    (an explicit ``weights_only`` argument still wins)."""
    original = torch.load

    def load(*args, **kwargs):
        kwargs.setdefault('weights_only', False)
        return original(*args, **kwargs)

    torch.load = load
    try:
        yield
    finally:
        torch.load = original


@RUNNERS.register_module()
class TrustedCheckpointRunner(Runner):
    """mmengine Runner with the checkpoint trust rule of the module doc."""

    trusted_checkpoints: frozenset = frozenset()

    def trust(self, paths: Iterable[str]):
        """Add checkpoint paths the user vouches for."""
        self.trusted_checkpoints = self.trusted_checkpoints | {
            osp.realpath(p) for p in paths if p
        }

    def is_trusted(self, filename: str) -> bool:
        if not isinstance(filename, str) or '://' in filename:
            return False
        path = osp.realpath(filename)
        own = osp.realpath(self.work_dir) + osp.sep
        return path in self.trusted_checkpoints or path.startswith(own)

    def load_checkpoint(self, filename: str, *args, **kwargs):
        if self.is_trusted(filename):
            with full_pickle_torch_load():
                return super().load_checkpoint(filename, *args, **kwargs)
        try:
            return super().load_checkpoint(filename, *args, **kwargs)
        except pickle.UnpicklingError as e:
            raise pickle.UnpicklingError(
                f'{filename} holds Python objects beyond tensors and was '
                'refused (torch.load weights_only=True). If you trust this '
                'file, name it on the command line (tools/train.py --resume '
                f'{filename}, or tools/test.py CONFIG {filename}) to load it '
                'fully.') from e
