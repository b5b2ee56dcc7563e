"""The notebooks in a real JupyterLab, driven by headless Chromium: widgets render, keep working after Run All,
and the live chart grows.

Starts JupyterLab on a free loopback port with copies of the EDA, train and evaluate notebooks, runs them in
Chromium (Debian's `chromium`, driven by Playwright) with Run All, as a new user would, and then uses the
widgets: the EDA dashboard's dropdowns read "all" and a filter changes its charts; the gallery's toggle and
dropdown change the picture; the runs dashboard's sort, direction, group filter and refresh change the rows.
No widget may be stuck at "Loading widget...", show an error, or leave one in JupyterLab's log console (where
a widget callback's exception goes when nothing shows it). The live loss chart must gain points while a
training cell runs. Screenshots of each step go to `test-artifacts/`. Skipped only where Chromium is not installed.
"""
import json, os, shutil, subprocess, sys, time, urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / 'test-artifacts'
CHROMIUM = shutil.which('chromium') or '/usr/bin/chromium'
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason='Chromium is not installed (Debian package chromium)')

# Quiet, offline-friendly flags: this machine's network is closed.
CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
                 '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage']


SAVED_LIMIT = 8_000_000   # an executed notebook with its widget state; plotly FigureWidgets made them 21 MB
LAB_DIR = [None]   # the folder JupyterLab serves, set by the `lab` fixture


@pytest.fixture(scope='module')
def lab(tmp_path_factory, free_port):
    "A JupyterLab server on loopback, serving copies of the notebooks, with every cell rendered (no windowing)."
    work = tmp_path_factory.mktemp('lab')
    for nb in ('22_eda.ipynb', '23_review.ipynb', '19_train.ipynb', '25_evaluate.ipynb'): shutil.copy(ROOT / 'nbs' / nb, work / nb)
    settings = work / '.settings' / '@jupyterlab' / 'notebook-extension'
    settings.mkdir(parents=True)
    (settings / 'tracker.jupyterlab-settings').write_text(json.dumps({'windowingMode': 'none'}))
    widgets = work / '.settings' / '@jupyter-widgets' / 'jupyterlab-manager'
    widgets.mkdir(parents=True)   # save the widget state with the notebook, as users who reopen notebooks do
    (widgets / 'plugin.jupyterlab-settings').write_text(json.dumps({'saveState': True}))
    news = work / '.settings' / '@jupyterlab' / 'apputils-extension'
    news.mkdir(parents=True)      # no "get notified about Jupyter news?" pop-up over the screenshots
    (news / 'notification.jupyterlab-settings').write_text(json.dumps({'fetchNews': 'false'}))
    LAB_DIR[0] = work
    port = free_port()
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
    page = browser.new_page(viewport={'width': 1400, 'height': 2000})   # tall enough to screenshot a whole dashboard
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


def _no_error_outputs(errors):
    assert not [e for e in errors if 'Error' in e or 'Traceback' in e], errors


def _log_console_errors(page, name):
    "Open JupyterLab's log console (View > Show Log Console), screenshot it, and return the text of its error entries."
    page.get_by_role('menuitem', name='View', exact=True).click()
    page.get_by_role('menuitem', name='Show Log Console', exact=True).click()
    panel = page.locator('.jp-LogConsolePanel').first
    panel.wait_for(timeout=10_000)
    page.wait_for_timeout(500)
    panel.screenshot(path=str(ARTIFACTS / f'{name}_log_console.png'))
    texts = panel.locator('.jp-OutputArea-output').all_text_contents()
    return [t for t in texts if 'Error' in t or 'Traceback' in t or 'error' in t.lower()]


def _save_and_measure(page, notebook) -> int:
    "Save the notebook (with its widget state) and return its size in bytes; recorded in test-artifacts/saved_sizes.json."
    path = LAB_DIR[0] / notebook
    before = path.stat().st_mtime
    page.locator('.jp-Notebook').first.click(position={'x': 5, 'y': 5})
    page.keyboard.press('Control+s')
    for _ in range(120):
        if path.stat().st_mtime != before: break
        page.wait_for_timeout(250)
    page.wait_for_timeout(1000)
    size = path.stat().st_size
    record = ARTIFACTS / 'saved_sizes.json'
    sizes = json.loads(record.read_text()) if record.exists() else {}
    record.write_text(json.dumps(sizes | {notebook: size}, indent=1))
    return size


def _reopened(browser, lab, notebook):
    "A copy of the saved notebook opened again, not run (a fresh kernel): what a user sees opening it later."
    copy = f'reopened_{notebook}'
    shutil.copy(LAB_DIR[0] / notebook, LAB_DIR[0] / copy)
    return _open(browser, lab, copy)


def _no_stuck_widgets(page):
    page.wait_for_timeout(1500)
    stuck = page.get_by_text('Loading widget...').count()
    assert stuck == 0, f'{stuck} widget(s) did not render'


def _run_all_clean(browser, lab, notebook):
    "The notebook opened, run with Run All to the end, no cell showing an error: its page."
    ARTIFACTS.mkdir(exist_ok=True)
    page = _open(browser, lab, notebook)
    _run_all(page)
    _no_error_outputs(_wait_done(page))
    return page


def test_eda_widgets_work_after_run_all(lab, browser):
    page = _run_all_clean(browser, lab, '22_eda.ipynb')
    dash = page.locator('.mask-lab-eda-dashboard').first
    dash.wait_for(timeout=30_000)
    dash.scroll_into_view_if_needed()
    plots = dash.locator('.js-plotly-plot')
    plots.first.wait_for(timeout=30_000)
    assert plots.count() >= 3
    _no_stuck_widgets(page)
    # unfiltered, every dropdown reads "all" (not blank)
    shown = dash.locator('select').evaluate_all('els => els.map(e => e.selectedIndex >= 0 ? e.options[e.selectedIndex].text : "")')
    assert shown == ['all', 'all', 'all'], shown
    dash.screenshot(path=str(ARTIFACTS / 'eda_1_dashboard.png'))
    total = """() => { const el = document.querySelector('.mask-lab-eda-dashboard .js-plotly-plot');   // redrawn on each change
                      return el && el.data ? el.data.reduce((s, t) => s + (t.y || []).reduce((a, b) => a + b, 0), 0) : -1 }"""
    before = page.evaluate(total)
    dash.locator('select').first.select_option(label='female')  # the gender filter
    page.wait_for_function(f'(b) => {{ const t = ({total})(); return t > 0 && t !== b }}', arg=before, timeout=20_000)
    after = page.evaluate(total)
    assert 0 < after < before, (before, after)
    title = dash.locator('.js-plotly-plot').nth(1).locator('.gtitle').text_content()
    assert 'inf' not in title, title
    dash.screenshot(path=str(ARTIFACTS / 'eda_2_dashboard_female.png'))

    assert not _log_console_errors(page, 'eda_6')
    size = _save_and_measure(page, '22_eda.ipynb')
    assert size < SAVED_LIMIT, f'the saved 22_eda.ipynb weighs {size / 1e6:.1f} MB'
    page.close()
    # opened again without running: the charts come back from the saved notebook, in the dashboard and in their cells
    page = _reopened(browser, lab, '22_eda.ipynb')
    dash = page.locator('.mask-lab-eda-dashboard').first
    dash.wait_for(timeout=30_000)
    dash.scroll_into_view_if_needed()
    dash.locator('.js-plotly-plot').nth(3).wait_for(timeout=30_000)   # the dashboard's four charts, from the saved widget state
    page.wait_for_timeout(1000)
    dash.screenshot(path=str(ARTIFACTS / 'eda_7_reopened_dashboard.png'))
    # the standalone chart cells of a reopened (untrusted) copy: recorded, not asserted (see the README)
    (ARTIFACTS / 'reopened_plot_counts.json').write_text(json.dumps({'all': page.locator('.js-plotly-plot').count(),
                                                                      'dashboard': dash.locator('.js-plotly-plot').count()}))
    page.close()


def test_review_gallery_works_after_run_all(lab, browser):
    page = _run_all_clean(browser, lab, '23_review.ipynb')
    # the gallery works after Run All: each click changes the picture, and nothing shows an error
    gallery = page.locator('.mask-lab-eda-gallery').first
    gallery.scroll_into_view_if_needed()
    img = gallery.locator('img')
    src = lambda: img.get_attribute('src')
    first = src()
    gallery.screenshot(path=str(ARTIFACTS / 'eda_3_gallery_person.png'))
    gallery.get_by_role('button', name='class', exact=True).click()
    page.wait_for_function('(a) => { const i = document.querySelector(".mask-lab-eda-gallery img"); return i && i.src !== a[0] }',
                           arg=[first], timeout=20_000)
    by_class = src()
    gallery.screenshot(path=str(ARTIFACTS / 'eda_4_gallery_class.png'))
    gallery.locator('select').select_option(index=3)
    page.wait_for_function('(a) => document.querySelector(".mask-lab-eda-gallery img").src !== a[0]', arg=[by_class], timeout=20_000)
    gallery.screenshot(path=str(ARTIFACTS / 'eda_5_gallery_class_3.png'))
    assert len({first, by_class, src()}) == 3
    assert 'Error' not in gallery.inner_text(), gallery.inner_text()
    width = img.evaluate('i => [i.clientWidth, i.naturalWidth]')
    assert width[0] <= width[1], width            # shown at its own size, not stretched
    assert not _log_console_errors(page, 'review_1')
    page.close()


def test_live_chart_grows_while_training(lab, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    page = _open(browser, lab, '19_train.ipynb')
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


def test_evaluate_runs_dashboard_after_run_all(lab, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    page = _open(browser, lab, '25_evaluate.ipynb')
    _run_all(page)
    _no_error_outputs(_wait_done(page, timeout=900))   # a ceiling for a loaded machine
    _no_stuck_widgets(page)
    # what the example model learnt: its confusion matrix and mistakes gallery
    for k, code in ((1, 'fig = confusion_figure(report)'), (2, 'gallery = mistakes_gallery(preds')):
        cell = page.locator('.jp-CodeCell').filter(has_text=code).first
        cell.locator('.jp-OutputArea').scroll_into_view_if_needed()
        cell.locator('.jp-OutputArea').screenshot(path=str(ARTIFACTS / f'evaluate_{k}_{code.split()[-1].split("(")[0]}.png'))
    dash = page.locator('.mask-lab-runs-dashboard').first
    dash.wait_for(timeout=30_000)
    dash.scroll_into_view_if_needed()
    dash.locator('.js-plotly-plot').first.wait_for(timeout=30_000)
    rows = lambda: dash.locator('tr[data-run]').evaluate_all('els => els.map(e => e.dataset.run)')
    def wait_rows(old):
        page.wait_for_function('(old) => JSON.stringify([...document.querySelectorAll(".mask-lab-runs-dashboard tr[data-run]")]'
                               '.map(e => e.dataset.run)) !== old', arg=json.dumps(old, separators=(',', ':')), timeout=20_000)
        return rows()
    best_first = rows()
    assert len(best_first) >= 5 and 'too small to tell' in dash.inner_text(), best_first
    width = dash.locator('.mask-lab-runs-table').evaluate('e => [e.scrollWidth, e.clientWidth]')
    assert width[0] <= 1000, width                # the table fits a 1000 px notebook
    dash.screenshot(path=str(ARTIFACTS / 'evaluate_3_runs_best_first.png'))
    sort = dash.locator('select').nth(1)
    sort.select_option('name')
    by_name = wait_rows(best_first)
    assert by_name == sorted(by_name, key=lambda r: r.split('/')[-1], reverse=True), by_name
    dash.get_by_role('checkbox').click()          # ascending
    ascending = wait_rows(by_name)
    assert ascending == by_name[::-1]
    dash.screenshot(path=str(ARTIFACTS / 'evaluate_4_runs_by_name.png'))
    dash.locator('select').first.select_option(label='cv')
    assert wait_rows(ascending) == ['cv/fold_0']
    dash.locator('select').first.select_option(index=0)
    assert wait_rows(['cv/fold_0']) == ascending
    dash.get_by_role('button', name='refresh').click()
    page.wait_for_timeout(1500)
    assert rows() == ascending and 'Error' not in dash.inner_text(), dash.inner_text()
    dash.screenshot(path=str(ARTIFACTS / 'evaluate_5_runs_refreshed.png'))
    assert not _log_console_errors(page, 'evaluate_6')
    size = _save_and_measure(page, '25_evaluate.ipynb')
    assert size < SAVED_LIMIT, f'the saved 25_evaluate.ipynb weighs {size / 1e6:.1f} MB'
    page.close()
