"""Build the documentation site into `site/`: `make docs` (chapters executed) or `make docs EXECUTE=0` (as stored).

The site's sources are staged in `build/site_src/`, laid out as in the repository so that one link works both on
GitHub (README.md) and in the site:

    index.ipynb        nbs/index.ipynb, the front page (README.md is its markdown conversion)
    docs/*.md          the long pages
    nbs/NN_*.ipynb     every chapter, executed or as stored

With execution on, each chapter runs the way `nbdev_test` runs it (execnb, `IN_TEST=1`, cells flagged with
settings.ini's `tst_flags` or `#| eval: false` skipped, working folder nbs/), two at a time, each in its own process;
a chapter that fails is named and the build stops with status 1. Executed chapters lose any ipywidgets state
(`metadata.widgets`; a widget's output becomes a note), draw plotly figures with the site's own plotly.js, and lose,
largest first, the outputs that take them over 2 MB. Sphinx (myst-nb, furo) then builds the staged sources with
warnings as errors, so a broken link or page fails the build. Nothing is fetched, at build time or in the browser.
"""
import argparse, concurrent.futures as cf, hashlib, json, os, re, shutil, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS, DOCS = ROOT / 'nbs', ROOT / 'docs'
STAGE, DOCTREES = ROOT / 'build' / 'site_src', ROOT / 'build' / 'site_doctrees'
MAX_NB_BYTES = 2_000_000
# The guide's pages in the site's menu, in this order; pages not listed follow alphabetically.
PAGE_ORDER = ['command_line', 'python', 'run_folder', 'experiments', 'jupyterlab', 'benchmarks', 'real_photos',
              'weights', 'scaling', 'reliability', 'performance', 'developing']


def chapters(): return sorted(NBS.glob('[0-9]*.ipynb'))


def write_if_changed(path: Path, data: bytes):
    "Keep an unchanged file's time stamp, so that Sphinx rebuilds only the pages that changed."
    if path.exists() and path.read_bytes() == data: return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def nb_bytes(nb) -> bytes: return (json.dumps(nb, indent=1, ensure_ascii=False) + '\n').encode()


# ---------------------------------------------------------------- executing one chapter (in its own process)

def run_one(src: Path, dst: Path):
    "Execute chapter `src` as nbdev_test does and write it, with its outputs, to `dst`."
    os.environ['IN_TEST'] = '1'
    from execnb.nbio import read_nb, write_nb
    from execnb.shell import CaptureShell
    from fastcore.xtras import working_directory
    from nbdev.config import get_config
    from nbdev.frontmatter import FrontmatterProc
    from nbdev.process import NBProcessor
    skip = set(get_config().tst_flags.split())
    nb = NBProcessor(src, procs=FrontmatterProc, process=True).nb   # cells with their directives_, as nbdev_test sees them
    stored = read_nb(src)                                             # the cells as written, directives and all
    assert len(nb.cells) == len(stored.cells), f'{src.name}: nbdev changed the number of cells'

    def no_eval(cell):
        if cell.cell_type != 'code' or 'nbdev_export' + '(' in cell.source: return True
        directives = getattr(cell, 'directives_', {}) or {}
        if directives.get('eval:', [''])[0].lower() == 'false': return True
        return bool(skip & directives.keys())

    shell = CaptureShell(src)
    try:
        with working_directory(src.parent): shell.run_all(nb, exc_stop=True, preproc=no_eval)
    except BaseException:
        sys.stderr.write(shell.prettytb(fname=src) + '\n')
        sys.exit(1)
    for cell, ran in zip(stored.cells, nb.cells):
        if cell.cell_type == 'code':
            cell.outputs = ran.get('outputs', [])
            cell.execution_count = ran.get('execution_count')
    write_nb(stored, dst)


def execute(nbs, out: Path, jobs: int, timeout: int):
    "Run every chapter in `nbs` into `out`, `jobs` at a time; return the names of those that failed."
    out.mkdir(parents=True, exist_ok=True)
    # A private temporary folder: the notebooks keep their demo data in named folders under it
    # (mask_lab_notebooks/...), which a `make test` running at the same time would otherwise empty under them.
    tmp = tempfile.mkdtemp(prefix='mask_lab_docs_')
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS', '1'), IN_TEST='1', TMPDIR=tmp)

    def one(nb):
        start = time.time()
        try:
            p = subprocess.run([sys.executable, __file__, '--run-one', str(nb), str(out / nb.name)], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=timeout)
            ok, err = p.returncode == 0, p.stderr
        except subprocess.TimeoutExpired:
            ok, err = False, f'timed out after {timeout} s'
        print(f'  {nb.stem}: {"ok" if ok else "FAILED"} in {time.time() - start:.0f} s', flush=True)
        return nb, ok, err

    failed = []
    try:
        with cf.ThreadPoolExecutor(jobs) as pool:
            for nb, ok, err in pool.map(one, nbs):
                if not ok: failed.append((nb.stem, err))
    finally: shutil.rmtree(tmp, ignore_errors=True)
    for name, err in failed: sys.stderr.write(f'\n==== {name} failed ====\n{err[-4000:]}\n')
    return [name for name, _ in failed]


# ---------------------------------------------------------------- staging

_TAGS = {'hide': 'remove-cell', 'echo: false': 'remove-input', 'output: false': 'remove-output'}


def plotly_html(fig: dict) -> str:
    "A plotly figure's JSON as HTML that draws it once the page has loaded plotly.js; the same figure, the same HTML."
    js = lambda o: json.dumps(o, sort_keys=True).replace('</', '<\\/')
    layout, config = fig.get('layout', {}), {'responsive': True, **fig.get('config', {})}
    div = 'plotly-' + hashlib.sha1(js(fig).encode()).hexdigest()[:12]
    return (f'<div id="{div}" class="plotly-graph-div" style="height:{layout.get("height", 450)}px; width:100%;"></div>\n'
            f'<script>window.addEventListener("DOMContentLoaded", function () {{ Plotly.newPlot("{div}", '
            f'{js(fig.get("data", []))}, {js(layout)}, {js(config)}); }});</script>\n')


_WIDGET_NOTE = '[an interactive widget: open the notebook in JupyterLab (`make lab`) to use it]\n'


def site_output(out: dict):
    "One output as the site shows it, or None to leave it out."
    data = out.get('data')
    if not data: return out
    if 'application/vnd.plotly.v1+json' in data:
        # plotly's notebook HTML loads MathJax from a CDN and needs the 4.6 MB plotly.js cell output before it;
        # the site draws the figure from its JSON with the plotly.min.js that conf.py serves itself (at the page's end).
        return {**out, 'data': {'text/html': plotly_html(data['application/vnd.plotly.v1+json'])}}
    if 'text/html' in data and 'plotly.js v' in ''.join(data['text/html'])[:2000]: return None  # plotly.js itself
    if 'application/vnd.jupyter.widget-view+json' in data:
        return {'output_type': 'stream', 'name': 'stdout', 'text': [_WIDGET_NOTE]}
    if 'image/png' in data and 'image/jpeg' in data: out['data'] = {k: v for k, v in data.items() if k != 'image/png'}
    return out


def site_notebook(nb: dict, name: str) -> dict:
    "The notebook as the site shows it: no widget state, nbdev's hide/echo/output directives as myst-nb tags, under 2 MB."
    nb['metadata'].pop('widgets', None)
    for cell in nb['cells']:
        cell.get('metadata', {}).pop('widgets', None)
        if cell['cell_type'] != 'code': continue
        src = ''.join(cell['source'])
        tags = [tag for d, tag in _TAGS.items() if re.search(rf'^#\|\s*{d}\s*$', src, re.M)]
        if all(line.startswith('#|') for line in src.strip().splitlines()): tags.append('remove-cell')   # e.g. default_exp
        if tags: cell.setdefault('metadata', {})['tags'] = sorted(set(cell['metadata'].get('tags', []) + tags))
        kept = []
        for out in map(site_output, cell.get('outputs', [])):
            if out and not (kept and out == kept[-1] and out.get('text') == [_WIDGET_NOTE]): kept.append(out)   # one note per row of widgets
        cell['outputs'] = kept
    outputs = [(len(json.dumps(o)), cell, i) for cell in nb['cells'] if cell['cell_type'] == 'code'
               for i, o in enumerate(cell.get('outputs', []))]
    for size, cell, i in sorted(outputs, key=lambda o: o[0], reverse=True):
        if len(nb_bytes(nb)) <= MAX_NB_BYTES: break
        cell['outputs'][i] = {'output_type': 'stream', 'name': 'stdout',
                              'text': [f'[an output of {size / 1e6:.1f} MB is left out of the site: run the notebook to see it]\n']}
        print(f'  {name}: left out an output of {size / 1e6:.1f} MB', flush=True)
    if len(nb_bytes(nb)) > MAX_NB_BYTES: raise SystemExit(f'{name}: still over {MAX_NB_BYTES} bytes without its outputs')
    return nb


def front_page() -> dict:
    "nbs/index.ipynb with a hidden table of contents (Sphinx's menu) that README.md does not show."
    nb = json.loads((NBS / 'index.ipynb').read_text())
    pages = [p.stem for p in sorted(DOCS.glob('*.md'))]
    pages = [p for p in PAGE_ORDER if p in pages] + [p for p in pages if p not in PAGE_ORDER]
    toc = lambda caption, entries: ['```{toctree}\n', ':hidden:\n', f':caption: {caption}\n', '\n'] + [f'{e}\n' for e in entries] + ['```\n']
    nb['cells'] += [{'cell_type': 'markdown', 'metadata': {}, 'source': toc('Guide', [f'docs/{p}' for p in pages])},
                    {'cell_type': 'markdown', 'metadata': {}, 'source': toc('Chapters', [f'nbs/{c.stem}' for c in chapters()])}]
    return nb


def stage(executed: Path = None):
    "Lay out build/site_src/; chapters come from `executed` when given, else from nbs/."
    wanted = {STAGE / 'index.ipynb': nb_bytes(front_page())}
    for md in DOCS.glob('*.md'): wanted[STAGE / 'docs' / md.name] = md.read_bytes()
    for c in chapters():
        src = executed / c.name if executed else c
        wanted[STAGE / 'nbs' / c.name] = nb_bytes(site_notebook(json.loads(src.read_text()), c.stem))
    if STAGE.exists():
        for old in [p for p in STAGE.rglob('*') if p.is_file() and p not in wanted]: old.unlink()
    for path, data in wanted.items(): write_if_changed(path, data)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--execute', type=int, default=1, help='1: execute the chapters first (default); 0: use them as stored')
    ap.add_argument('--jobs', type=int, default=2, help='chapters executed at once')
    ap.add_argument('--timeout', type=int, default=1800, help='seconds one chapter may run')
    ap.add_argument('--out', default='site', help='the built site')
    ap.add_argument('--run-one', nargs=2, metavar=('SRC', 'DST'), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.run_one: return run_one(*map(Path, args.run_one))
    start = time.time()
    executed = None
    if args.execute:
        executed = ROOT / 'build' / 'site_executed'
        shutil.rmtree(executed, ignore_errors=True)
        print(f'Executing {len(chapters())} chapters, {args.jobs} at a time:', flush=True)
        failed = execute(chapters(), executed, args.jobs, args.timeout)
        if failed: raise SystemExit(f'make docs: these chapters failed to run: {", ".join(failed)}')
        print(f'Executed in {time.time() - start:.0f} s', flush=True)
    stage(executed)
    built = time.time()
    cmd = [sys.executable, '-m', 'sphinx', '-b', 'html', '-c', str(ROOT), '-d', str(DOCTREES), '-W', '--keep-going', '-q',
           str(STAGE), str(ROOT / args.out)]
    if subprocess.run(cmd).returncode: raise SystemExit('make docs: Sphinx failed (warnings count as errors)')
    print(f'Site built in {args.out}/ in {time.time() - built:.0f} s ({time.time() - start:.0f} s in all)')


if __name__ == '__main__': main()
