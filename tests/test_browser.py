"""The notebooks in a real JupyterLab, driven by headless Chromium: widgets render and the live chart grows.

Starts JupyterLab on a free loopback port with copies of the EDA and train notebooks, runs them in Chromium
(Debian's `chromium`, driven by Playwright), and checks that the EDA dashboard renders and reacts to a
filter, that no widget is stuck at "Loading widget...", and that the live loss chart gains points while a
training cell runs. Screenshots go to `test-artifacts/`. Skipped only where Chromium is not installed.
"""
import json, os, shutil, socket, subprocess, sys, time, urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / 'test-artifacts'
CHROMIUM = shutil.which('chromium') or '/usr/bin/chromium'
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason='Chromium is not installed (Debian package chromium)')

# Quiet, offline-friendly flags: this machine's network is closed.
CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
                 '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage']


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    "A JupyterLab server on loopback, serving copies of the notebooks, with every cell rendered (no windowing)."
    work = tmp_path_factory.mktemp('lab')
    for nb in ('03_eda.ipynb', '09_train.ipynb'): shutil.copy(ROOT / 'nbs' / nb, work / nb)
    settings = work / '.settings' / '@jupyterlab' / 'notebook-extension'
    settings.mkdir(parents=True)
    (settings / 'tracker.jupyterlab-settings').write_text(json.dumps({'windowingMode': 'none'}))
    port = _free_port()
    env = {**os.environ, 'JUPYTERLAB_SETTINGS_DIR': str(work / '.settings'), 'IN_TEST': '1', 'OMP_NUM_THREADS': '1'}
    log = open(work / 'jupyterlab.log', 'w')
    proc = subprocess.Popen([sys.executable, '-m', 'jupyter', 'lab', '--no-browser', f'--port={port}', '--ip=127.0.0.1',
                             '--allow-root', '--IdentityProvider.token=', '--ServerApp.password=', f'--ServerApp.root_dir={work}', f'--LabApp.workspaces_dir={work / ".workspaces"}',
                             '--ServerApp.disable_check_xsrf=True', '--LabApp.news_url=', '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate'],
                            cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f'http://127.0.0.1:{port}'
    for _ in range(120):
        if proc.poll() is not None: break
        try:
            urllib.request.urlopen(f'{url}/api/status', timeout=2); break
        except OSError: time.sleep(0.5)
    else:
        proc.kill(); pytest.fail(f'JupyterLab did not start: {(work / "jupyterlab.log").read_text()[-2000:]}')
    yield url
    proc.terminate()
    try: proc.wait(10)
    except subprocess.TimeoutExpired: proc.kill()


@pytest.fixture(scope='module')
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _open(browser, lab, notebook):
    page = browser.new_page(viewport={'width': 1400, 'height': 1000})
    page.goto(f'{lab}/lab/tree/{notebook}?reset')  # a fresh workspace: only this notebook open
    page.wait_for_selector('.jp-Notebook .jp-Cell', timeout=90_000)
    page.get_by_text('Python 3 (ipykernel) | Idle').wait_for(timeout=90_000)  # the kernel is up
    return page


def _run_all(page):
    page.get_by_role('menuitem', name='Run', exact=True).click()
    page.get_by_role('menuitem', name='Run All Cells', exact=True).click()


def _busy(page) -> bool:
    return page.evaluate('''() => [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]
                                      .some(p => p.textContent.includes('*'))''')


def _wait_done(page, timeout=240, poll=None):
    "Wait until no cell is queued or running (calling `poll()` meanwhile); return the error outputs' text."
    start = time.time()
    page.wait_for_function('''() => [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]
                                      .some(p => p.textContent.includes('*'))''', timeout=60_000)
    while _busy(page):
        if time.time() - start > timeout: pytest.fail(f'notebook still running after {timeout} s')
        if poll: poll()
        time.sleep(0.25)
    return page.eval_on_selector_all('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"], '
                                     '.jp-RenderedText[data-mime-type="application/vnd.jupyter.error"]',
                                     'els => els.map(e => e.textContent)')


def _no_stuck_widgets(page):
    page.wait_for_timeout(1500)
    stuck = page.get_by_text('Loading widget...').count()
    assert stuck == 0, f'{stuck} widget(s) did not render'


def test_eda_dashboard_renders_and_filters(lab, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    page = _open(browser, lab, '03_eda.ipynb')
    _run_all(page)
    errors = _wait_done(page)
    assert not [e for e in errors if 'Error' in e or 'Traceback' in e], errors
    dash = page.locator('.mask-lab-eda-dashboard').first
    dash.wait_for(timeout=30_000)
    dash.scroll_into_view_if_needed()
    plots = dash.locator('.js-plotly-plot')
    plots.first.wait_for(timeout=30_000)
    assert plots.count() >= 3
    _no_stuck_widgets(page)
    total = 'el => el.data.reduce((s, t) => s + (t.y || []).reduce((a, b) => a + b, 0), 0)'
    before = plots.first.evaluate(total)
    dash.locator('select').first.select_option(label='female')  # the gender filter
    page.wait_for_function(f'(args) => ({total})(args[0]) !== args[1]', arg=[plots.first.element_handle(), before], timeout=20_000)
    after = plots.first.evaluate(total)
    assert 0 < after < before, (before, after)
    dash.screenshot(path=str(ARTIFACTS / 'browser_eda_dashboard.png'))
    page.close()


def test_live_chart_grows_while_training(lab, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    page = _open(browser, lab, '09_train.ipynb')
    counts = []
    count_js = '''() => { const g = document.querySelector('.mask-lab-live-chart .js-plotly-plot');
                          const x = g && g.data && g.data[0] && g.data[0].x;   // a trace can exist before its points
                          return x ? x.length : -1 }'''
    _run_all(page)
    errors = _wait_done(page, poll=lambda: counts.append(page.evaluate(count_js)))
    assert not [e for e in errors if 'Error' in e or 'Traceback' in e], errors
    seen = [c for c in counts if c > 0]
    growth = sorted(set(seen))
    # The first chart was drawn with more points at a later poll while its cell was still running (polls stop when
    # the notebook is idle): a chart drawn once at the end would show a single count. The run takes about 2 s and the
    # chart redraws at most once a second, so two or three counts are what a live chart shows.
    assert len(growth) >= 2, counts
    chart = page.locator('.mask-lab-live-chart').first
    chart.scroll_into_view_if_needed()
    _no_stuck_widgets(page)
    chart.screenshot(path=str(ARTIFACTS / 'browser_live_chart.png'))
    (ARTIFACTS / 'browser_live_chart_counts.json').write_text(json.dumps(counts))
    page.close()
