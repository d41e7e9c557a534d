"""The package's import graph: no cycle, and layers that import downwards.

tools -> cli / runner -> models -> blocks / layouts, with convert beside
models and checkpoint I/O a leaf. Every import statement counts, those inside
functions too.
"""
import ast
import os.path as osp
from glob import glob

PACKAGE = 'mm_iresnet'


def module_name(root, path):
    rel = osp.relpath(path, root)[:-len('.py')].replace(osp.sep, '.')
    return rel[:-len('.__init__')] if rel.endswith('.__init__') else rel


def import_graph(root):
    """module -> set of mm_iresnet modules it imports."""
    files = glob(osp.join(root, PACKAGE, '**', '*.py'), recursive=True)
    modules = {module_name(root, f): f for f in files}
    graph = {}
    for name, path in modules.items():
        package = name if path.endswith('__init__.py') else \
            name.rsplit('.', 1)[0]
        edges = set()
        for node in ast.walk(ast.parse(open(path).read())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ''
                if node.level:
                    parts = package.split('.')
                    parent = '.'.join(parts[:len(parts) - node.level + 1])
                    base = f'{parent}.{base}' if base else parent
                # `from pkg import submodule` imports the submodule too
                targets = [base] + [f'{base}.{a.name}' for a in node.names]
            else:
                continue
            edges |= {t for t in targets if t in modules and t != name}
        graph[name] = edges
    return graph


def find_cycle(graph):
    state = {}

    def visit(node, path):
        state[node] = 'open'
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 'open':
                return path + [node, nxt]
            if nxt not in state:
                cycle = visit(nxt, path + [node])
                if cycle:
                    return cycle
        state[node] = 'done'
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node, [])
            if cycle:
                return cycle
    return None


def test_no_import_cycle(root):
    graph = import_graph(root)
    assert 'mm_iresnet.models.iresnet' in graph  # the walk found modules
    assert find_cycle(graph) is None, ' -> '.join(find_cycle(graph))


def test_layers_import_downwards(root):
    graph = import_graph(root)
    above_models = {
        f'{PACKAGE}.{m}'
        for m in ('convert', 'cli', 'runner', 'hooks', 'plots', 'zoo')
    }
    for name, edges in graph.items():
        if name.startswith(f'{PACKAGE}.models'):
            assert not edges & above_models, (name, edges & above_models)
    # checkpoint I/O is a leaf
    assert graph[f'{PACKAGE}.checkpoint'] == set()
    # a known edge, so the walk is not vacuous
    assert f'{PACKAGE}.checkpoint' in graph[f'{PACKAGE}.models.iresnet']
    assert f'{PACKAGE}.models' in graph[f'{PACKAGE}.convert']


def test_find_cycle_finds_one():
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == \
        ['a', 'b', 'c', 'a']
