"""PNG curves from an mmengine work_dir's scalar log
(``vis_data/scalars.json``)."""
import glob
import json
import os.path as osp
from typing import Dict, List

__all__ = ['find_scalar_log', 'read_scalars', 'plot_work_dir']


def find_scalar_log(work_dir: str) -> str:
    """The newest ``<timestamp>/vis_data/scalars.json`` of a work_dir."""
    logs = sorted(
        glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not logs:
        raise FileNotFoundError(
            f'no */vis_data/scalars.json under {work_dir!r}: is it the '
            'work_dir of an mmengine run (LocalVisBackend)?')
    return logs[-1]


#: what COCO's metric logs for "no object of this size": not a value
COCO_NO_OBJECTS = -1


def read_scalars(path: str) -> Dict[str, List[tuple]]:
    """name -> [(step, value)], training scalars by iteration and
    validation metrics (``prefix/name``) by the step they were logged at,
    without COCO's "no objects of this size" sentinel."""
    series: Dict[str, List[tuple]] = {}
    with open(path) as f:
        for line in f:
            record = json.loads(line)
            step = record.get('iter', record.get('step'))
            for key, value in record.items():
                if key in ('iter', 'step', 'epoch') or \
                        not isinstance(value, (int, float)) or \
                        ('/' in key and value == COCO_NO_OBJECTS):
                    continue
                series.setdefault(key, []).append((step, value))
    return series


def plot_work_dir(work_dir: str, out_dir: str = None) -> List[str]:
    """Write loss.png, lr.png and metrics.png; returns their paths."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    series = read_scalars(find_scalar_log(work_dir))
    out_dir = out_dir or work_dir
    groups = {
        'loss':
        sorted(k for k in series if k.startswith('loss')),
        'lr': [k for k in series if k == 'lr'],
        'metrics':
        sorted(k for k in series if '/' in k and not k.endswith('_precision')),
    }
    written = []
    for name, keys in groups.items():
        if not keys:
            continue
        fig, ax = plt.subplots(figsize=(7, 4))
        for key in keys:
            steps, values = zip(*series[key])
            ax.plot(
                steps,
                values,
                marker='o' if name == 'metrics' or len(steps) < 5 else None,
                label=key)
        ax.set_xlabel('iteration')
        ax.set_title(f'{name} — {osp.basename(osp.normpath(work_dir))}')
        if name == 'loss':
            ax.set_yscale('log')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = osp.join(out_dir, f'{name}.png')
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written
