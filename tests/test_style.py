"""The package's rooms a maintainer reads once: no function over 80 lines.

A function's length is counted from its ``def`` line to its last line
(docstring, comments and blank lines included), as ``ast`` reports them.
"""
import ast
import os.path as osp
from glob import glob

PACKAGE = 'mm_iresnet'
MAX_FUNCTION_LINES = 80


def long_functions(root, limit=MAX_FUNCTION_LINES):
    """``path:line name (N lines)`` for every function of the package over
    ``limit`` lines, methods and nested functions included."""
    offenders = []
    files = glob(osp.join(root, PACKAGE, '**', '*.py'), recursive=True)
    for path in sorted(files):
        with open(path) as f:
            tree = ast.parse(f.read(), filename=path)
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            length = node.end_lineno - node.lineno + 1
            if length > limit:
                offenders.append(f'{osp.relpath(path, root)}:{node.lineno} '
                                 f'{node.name} ({length} lines)')
    return offenders


def test_long_functions_counts_def_to_last_line(tmp_path):
    package = tmp_path / PACKAGE
    package.mkdir()
    body = '\n'.join(f'    x{i} = {i}' for i in range(79))
    (package / 'short.py').write_text(f'def fits():\n{body}\n')
    (package / 'long.py').write_text(f'def over():\n{body}\n    x = 0\n')
    assert long_functions(str(tmp_path)) == [
        f'{osp.join(PACKAGE, "long.py")}:1 over (81 lines)'
    ]


def test_no_function_over_80_lines(root):
    offenders = long_functions(root)
    assert not offenders, (f'functions over {MAX_FUNCTION_LINES} lines:\n' +
                           '\n'.join(offenders))
