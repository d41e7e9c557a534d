"""mmengine hooks of this package (registered in mmengine's root HOOKS)."""
from mmengine.dist import master_only
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

__all__ = ['PlotCurvesHook']


@HOOKS.register_module()
class PlotCurvesHook(Hook):
    """After the run, draw loss / lr / metric curves into the work_dir
    (``loss.png``, ``lr.png``, ``metrics.png``)."""

    priority = 'VERY_LOW'

    @master_only
    def after_run(self, runner) -> None:
        from .plots import plot_work_dir
        try:
            paths = plot_work_dir(runner.work_dir)
        except FileNotFoundError as e:  # no LocalVisBackend configured
            runner.logger.warning(f'PlotCurvesHook: {e}')
            return
        runner.logger.info('curves: ' + ', '.join(paths))
