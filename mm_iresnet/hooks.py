"""mmengine hooks of this package (registered in mmengine's root HOOKS)."""
from mmengine.dist import master_only
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

__all__ = ['PlotCurvesHook', 'FiniteLossHook']


@HOOKS.register_module()
class PlotCurvesHook(Hook):
    """After a training run, draw loss / lr / metric curves into the
    work_dir (``loss.png``, ``lr.png``, ``metrics.png``). A run that does not
    train (``tools/test.py``) has no curves and draws nothing."""

    priority = 'VERY_LOW'

    def __init__(self):
        self.trained = False

    def before_train(self, runner) -> None:
        self.trained = True

    @master_only
    def after_run(self, runner) -> None:
        if not self.trained:
            return
        from .plots import plot_work_dir
        try:
            paths = plot_work_dir(runner.work_dir)
        except FileNotFoundError as e:  # no LocalVisBackend configured
            runner.logger.warning(f'PlotCurvesHook: {e}')
            return
        runner.logger.info('curves: ' + ', '.join(paths))


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Stop training at the first non-finite loss, naming the iteration and
    the loss terms that went NaN/inf (mmengine would go on silently).

    Args:
        interval (int): check every ``interval`` iterations.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, interval: int = 1):
        self.interval = interval

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None) -> None:
        if not outputs or not self.every_n_train_iters(runner, self.interval):
            return
        import math
        bad = {}
        for key, value in outputs.items():
            number = float(value.detach().float().mean()) \
                if hasattr(value, 'detach') else value
            if isinstance(number, float) and not math.isfinite(number):
                bad[key] = number
        if bad:
            terms = ', '.join(f'{k}={v}' for k, v in sorted(bad.items()))
            raise FloatingPointError(
                f'non-finite loss at iteration {runner.iter + 1} (epoch '
                f'{runner.epoch + 1}): {terms}. Lower the learning rate, '
                'enable gradient clipping (optim_wrapper.clip_grad) or check '
                'the data of this batch.')
