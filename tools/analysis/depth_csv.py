"""The depth study's CSV: one row per evaluation point, and resuming
(finished runs kept, a run cut off half-way dropped, other settings refused).
"""
import csv
import json
import os.path as osp
from typing import List, Sequence, Tuple

COLUMNS = ('variant', 'depth', 'seed', 'step', 'train_loss', 'heldout_loss',
           'heldout_acc', 'sec_per_step', 'finite', 'lr', 'last_stage_std')


def read_rows(path: str) -> List[dict]:
    if not osp.exists(path):
        return []
    with open(path, newline='') as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k in ('depth', 'seed', 'step', 'finite'):
            r[k] = int(r[k])
        for k in COLUMNS[4:]:
            if k not in ('finite', ):
                r[k] = float(r[k])
    return rows


def run_key(row: dict) -> Tuple[str, int, int]:
    return row['variant'], int(row['depth']), int(row['seed'])


def finished_runs(rows: Sequence[dict], steps: int) -> set:
    """Runs that reached the last step or stopped on a non-finite loss."""
    return {run_key(r) for r in rows if r['step'] == steps or not r['finite']}


def write_rows(path: str, rows: Sequence[dict]):
    with open(path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def check_settings(path: str, settings: dict, has_rows: bool):
    """Refuse to extend a CSV made with other settings."""
    if osp.exists(path):
        with open(path) as f:
            old = json.load(f)
        if old != settings:
            diff = {
                k: (old.get(k), settings.get(k))
                for k in set(old) | set(settings)
                if old.get(k) != settings.get(k)
            }
            raise ValueError(
                f'{path} records other settings than this run (old, new): '
                f'{diff}; use another --out-dir or delete the CSV to start '
                'over')
    elif has_rows:
        raise ValueError(f'{path} is missing: cannot tell which settings the '
                         'existing CSV was made with')
    with open(path, 'w') as f:
        json.dump(settings, f, indent=1, sort_keys=True)
