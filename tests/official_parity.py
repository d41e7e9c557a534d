"""Print the parity of this package with the official iResNet code.

    python -m tests.official_parity    # from the repository's root

For each official model and version in ``tests/fixtures/official/``, the
largest relative error (||a-b|| / ||b||) over the four stage outputs and the
logits, as ``tests/test_official_parity.py`` computes it (its functions are
used here), and the error of the released ordering against the 2022
outputs. Prints a Markdown table.
"""
import tempfile
import warnings
from pathlib import Path

from .helpers import load_fixture
from .test_official_parity import (MODELS, VERSIONS, build, convert_official,
                                   stage_and_logit_errors)


def max_error(version, name, ordering):
    fixture = load_fixture(version, name)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter('ignore')
        arch, converted = convert_official(
            Path(tmp), fixture, MODELS[name][0],
            None if ordering == 'resstage' else ordering)
    model = build(name, ordering, arch, converted['state_dict'])
    return max(stage_and_logit_errors(model, fixture, converted['classifier']))


def main():
    versions = sorted(VERSIONS)
    print('| official model | ' + ' | '.join(f'{v} vs `{VERSIONS[v]}`'
                                             for v in versions) +
          ' | pr_310124e vs `resstage` (must differ) |')
    print('|---' * (len(versions) + 2) + '|')
    for name in sorted(MODELS):
        errors = [max_error(v, name, VERSIONS[v]) for v in versions]
        cross = max_error('pr_310124e', name, 'resstage')
        print(f'| {name} | ' + ' | '.join(f'{e:.1e}' for e in errors) +
              f' | {cross:.2f} |')


if __name__ == '__main__':
    main()
