"""The depth study's report: a summary line per run (Markdown) and the
figure of loss, held-out accuracy and last-stage scale against step."""
import math
from typing import Dict, List, Sequence, Tuple

from depth_csv import run_key
from depth_runs import STUDY_VARIANTS
from depth_task import NUM_CLASSES


def summarise(rows: Sequence[dict], threshold: float,
              relus: Dict[Tuple[str, int], List[int]]) -> List[dict]:
    """One line per run: first step with train loss <= threshold, whether it
    diverged, final held-out accuracy, time per step, end activation std."""
    out = []
    for key in sorted({run_key(r)
                       for r in rows},
                      key=lambda k: (k[1], STUDY_VARIANTS.index(k[0])
                                     if k[0] in STUDY_VARIANTS else 99, k[2])):
        rs = sorted((r for r in rows if run_key(r) == key),
                    key=lambda r: r['step'])
        reached = [
            r['step'] for r in rs
            if r['finite'] and r['train_loss'] <= threshold
        ]
        last = rs[-1]
        good = [r for r in rs if r['finite']]
        out.append(
            dict(
                variant=key[0],
                depth=key[1],
                seed=key[2],
                step_to_threshold=reached[0] if reached else None,
                diverged_at=None if last['finite'] else last['step'],
                final_step=last['step'],
                final_train_loss=good[-1]['train_loss'] if good else None,
                final_acc=good[-1]['heldout_acc'] if good else None,
                best_acc=max(r['heldout_acc'] for r in good) if good else None,
                sec_per_step=sum(r['sec_per_step'] for r in rs) / len(rs),
                end_std=good[-1]['last_stage_std'] if good else None,
                relus=relus.get(key[:2])))
    return out


def summary_markdown(summary: Sequence[dict], threshold: float) -> str:

    def fmt(v, spec):
        return '—' if v is None else format(v, spec)

    lines = [
        f'| variant | depth | seed | first step with train loss ≤ '
        f'{threshold:g} | diverged | final train loss | final held-out acc '
        '| best held-out acc | s/step | last-stage std at end | '
        'main-path ReLUs per stage |',
        '|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---|'
    ]
    for s in summary:
        reached = s['step_to_threshold'] or 'not reached'
        diverged = f"at step {s['diverged_at']}" if s['diverged_at'] else 'no'
        lines.append(
            f"| {s['variant']} | {s['depth']} | {s['seed']} | {reached} | "
            f'{diverged} | '
            f"{fmt(s['final_train_loss'], '.3f')} | "
            f"{fmt(s['final_acc'], '.3f')} | {fmt(s['best_acc'], '.3f')} | "
            f"{s['sec_per_step']:.3f} | {fmt(s['end_std'], '.3g')} | "
            f"{'/'.join(map(str, s['relus'])) if s['relus'] else '—'} |")
    return '\n'.join(lines) + '\n'


COLOURS = dict(zip(STUDY_VARIANTS, ('C0', 'C2', 'C3', 'C1')))
STYLES = ['-', '--', ':', '-.']
LOSS_TOP = 2.5  # train loss is clipped here in the figure


def plot_run(axes, rs):
    """One run's lines in one depth's column (``axes``: its three rows); a
    cross where the loss stopped being finite."""
    good = [r for r in rs if r['finite']]
    steps = [r['step'] for r in good]
    colour = COLOURS.get(rs[0]['variant'])
    kw = dict(color=colour, ls=STYLES[rs[0]['seed'] % 4], lw=1.4)
    axes[0].plot(steps, [min(r['train_loss'], LOSS_TOP) for r in good], **kw)
    axes[1].plot(steps, [r['heldout_acc'] for r in good], **kw)
    axes[2].plot(steps, [r['last_stage_std'] for r in good], **kw)
    for r in rs:
        if not r['finite']:
            axes[0].plot(r['step'], LOSS_TOP, 'x', ms=10, color=colour)


def decorate_column(axes, depth, threshold):
    axes[0].set_title(f'depth {depth} ({(depth - 2) // 2} blocks)')
    axes[0].axhline(math.log(NUM_CLASSES), color='k', lw=.7, alpha=.5)
    axes[0].axhline(threshold, color='k', lw=.7, ls=':', alpha=.5)
    axes[1].axhline(1 / NUM_CLASSES, color='k', lw=.7, alpha=.5)
    axes[2].set_yscale('log')
    axes[2].set_xlabel('step')
    for ax in axes:
        ax.grid(alpha=.3)


def label_figure(fig, axes, variants, seeds):
    from matplotlib.lines import Line2D
    axes[0, 0].set_ylabel(f'train loss (clipped at {LOSS_TOP:g})\n'
                          'chance: line, threshold: dotted')
    axes[1, 0].set_ylabel('held-out accuracy\nchance: line')
    axes[2, 0].set_ylabel('std of the last stage output\n'
                          '(held-out, eval mode)')
    handles = [
        Line2D([], [], color=COLOURS.get(v), lw=2, label=v) for v in variants
    ]
    handles += [
        Line2D([], [], color='grey', ls=STYLES[s % 4], label=f'seed {s}')
        for s in seeds
    ]
    fig.legend(
        handles=handles,
        loc='lower center',
        fontsize=9,
        ncol=len(handles),
        frameon=False)


def plot(rows: Sequence[dict], path: str, threshold: float):
    """Train loss, held-out accuracy and last-stage std against step: one
    column per depth, one colour per variant, one line style per seed."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    depths = sorted({r['depth'] for r in rows})
    variants = [v for v in STUDY_VARIANTS if v in {r['variant'] for r in rows}]
    fig, axes = plt.subplots(
        3,
        len(depths),
        squeeze=False,
        figsize=(4.2 * len(depths), 9),
        sharey='row')
    for j, depth in enumerate(depths):
        for key in sorted(
            {
                run_key(r)
                for r in rows
                if r['depth'] == depth and r['variant'] in variants
            },
                key=lambda k: (variants.index(k[0]), k[2])):
            plot_run(
                axes[:, j],
                sorted((r for r in rows if run_key(r) == key),
                       key=lambda r: r['step']))
        decorate_column(axes[:, j], depth, threshold)
    label_figure(fig, axes, variants, sorted({r['seed'] for r in rows}))
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=80)
    plt.close(fig)
