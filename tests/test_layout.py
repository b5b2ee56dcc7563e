"The layout is the architecture: notebooks are numbered in layers, and each module reads only the ones below it."
import ast, re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / 'mask_lab'
MAX_LINES = 450


def _layers() -> dict[str, str]:
    "Each module's notebook number (`10`, or `10a` for a chapter added between 10 and 11), from every numbered notebook."
    out = {}
    for nb in sorted((ROOT / 'nbs').glob('[0-9][0-9]*_*.ipynb')):
        number = re.match(r'(\d\d[a-z]?)_', nb.name)
        assert number, f'{nb.name}: a chapter is named NN_name or NNa_name'
        m = re.search(r'#\|\s*default_exp\s+(\w+)', nb.read_text())
        assert m, f'{nb.name}: no default_exp'
        out[m.group(1)] = number.group(1)
    return out


def _modules() -> dict[str, ast.Module]:
    return {f.stem: ast.parse(f.read_text()) for f in sorted(PKG.glob('*.py')) if not f.stem.startswith('_')}


def _package_imports(tree: ast.Module):
    "(module, name, line) for every import of a package module, at the top or inside a function."
    for n in ast.walk(tree):
        if not isinstance(n, ast.ImportFrom): continue
        if n.level: mod = n.module or ''
        elif (n.module or '').startswith('mask_lab.'): mod = n.module.split('.', 1)[1]
        else: continue
        for a in n.names: yield mod, a.name, n.lineno


def test_every_module_has_a_numbered_notebook():
    assert set(_modules()) == set(_layers()), set(_modules()) ^ set(_layers())


def test_modules_import_only_earlier_notebooks():
    layers, bad = _layers(), []
    for mod, tree in _modules().items():
        for other, name, line in _package_imports(tree):
            if other == mod or layers[other] >= layers[mod]:
                bad.append(f'{mod}.py:{line} imports {name} from {other} ({layers[other]} is not below {layers[mod]})')
    assert not bad, '\n'.join(bad)


def test_no_private_names_across_modules():
    bad = [f'{mod}.py:{line} imports {other}.{name}' for mod, tree in _modules().items()
           for other, name, line in _package_imports(tree) if name.startswith('_')]
    assert not bad, '\n'.join(bad)


def test_no_import_cycles():
    "Implied by the layering, checked on its own so a renumbering cannot hide one."
    graph = {mod: {o for o, _, _ in _package_imports(t) if o != mod} for mod, t in _modules().items()}
    state = {}
    def visit(m, path):
        if state.get(m) == 'done': return
        assert state.get(m) != 'open', 'import cycle: ' + ' -> '.join(path + [m])
        state[m] = 'open'
        for o in sorted(graph[m]): visit(o, path + [m])
        state[m] = 'done'
    for m in graph: visit(m, [])


def test_one_job_per_module():
    "Each module's docstring is its one job, in one sentence; no module grows past the size one reader can hold."
    for f in sorted(PKG.glob('*.py')):
        if f.stem.startswith('_'): continue
        doc = ast.get_docstring(ast.parse(f.read_text()))
        assert doc and len(doc.splitlines()) == 1, f'{f.name}: its first line should be a one-line docstring naming its job'
        n = len(f.read_text().splitlines())
        assert n <= MAX_LINES, f'{f.name}: {n} lines (at most {MAX_LINES}); split it by job'


def test_views_are_not_imported_below():
    "The views (figures, widgets, reports) sit on top: only the views and the command line import them."
    views = {'eda', 'review', 'explain', 'evaluate'}
    for mod, tree in _modules().items():
        if mod in views or mod in ('cli', 'search_cli'): continue
        used = {o for o, _, _ in _package_imports(tree)} & views
        assert not used, f'{mod} imports the views {used}'
