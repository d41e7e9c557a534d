"""Compiled rows: train, eval and deploy-form eval under ``torch.compile``
(inductor), each beside an A/A control (a second ResNet compiled on its
own)."""
import torch

from .harness import make_step, shuffled

WARMUP = 3  # compilation, then the first runs of the compiled graphs


def fresh(build, state_dict, device):
    """A new instance with given weights: nothing of the eager rows
    (memory formats, autocast caches) carries over."""
    model = build().to(device)
    model.load_state_dict(state_dict)
    return model


def graphs_compiled():
    from torch._dynamo.utils import counters
    return sum(counters['stats'].values())


def compiled_rows(case, state_dicts, args, rows):
    """``state_dicts``: the eager rows' weights of ours and base."""
    # every compiled instance recompiles the shared forward code: start each
    # case from empty caches, so no case runs past dynamo's recompile limit
    # (after which it silently falls back to eager)
    torch._dynamo.reset()
    ours_sd, base_sd = state_dicts
    device = args.device
    models = dict(
        ours=fresh(case.ours, ours_sd, device),
        deployed=fresh(case.ours, ours_sd, device),
        base=fresh(case.base, base_sd, device),
        control=fresh(case.base, base_sd, device))
    models['deployed'].switch_to_deploy()
    for model in models.values():
        model.compile()
    x = torch.randn(args.batch, *case.shape(args.size), device=device)
    for mode, key, label in (('train', 'ours', 'compiled'), ('eval', 'ours',
                                                             'compiled'),
                             ('eval', 'deployed',
                              'deploy (BN folded) + compiled')):
        steps = {
            k: make_step(models[m], x, mode, device)
            for k, m in (('ours', key), ('base', 'base'), ('control',
                                                           'control'))
        }
        shuffled(steps, 0, warmup=WARMUP, seed=args.seed)
        before = graphs_compiled()
        times = shuffled(steps, args.repeats, warmup=0, seed=args.seed)
        if graphs_compiled() != before:  # the timed runs recompiled
            raise RuntimeError(f'{case.name} {mode} {label}: recompiled '
                               'while timed; the rows would time dynamo')
        rows.timed(case.name, f'{mode} step s ({label})', times)
