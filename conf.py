"""Sphinx settings of the docs site. `make docs` (tools/build_docs.py) stages the sources in build/site_src/ and builds
them with this file into site/: the front page nbs/index.ipynb, the pages in docs/ and every chapter notebook."""
import configparser, warnings
from pathlib import Path

from nbformat.warnings import MissingIDFieldWarning

warnings.filterwarnings('ignore', category=MissingIDFieldWarning)   # nbdev_clean strips cell ids on purpose

_settings = configparser.ConfigParser()
_settings.read(Path(__file__).with_name('settings.ini'))
project = 'mask_lab'
author = _settings['DEFAULT']['author']
copyright = _settings['DEFAULT']['copyright']
release = version = _settings['DEFAULT']['version']

extensions = ['myst_nb']
root_doc = 'index'
nb_execution_mode = 'off'              # the chapters are executed before the build, or shown as stored
nb_merge_streams = True
myst_heading_anchors = 3               # `page.md#a-heading` links, as on GitHub
suppress_warnings = ['myst.header']    # notebooks may skip heading levels

html_theme = 'furo'                    # its fonts and scripts ship in the wheel: the site needs no CDN
html_title = f'mask_lab {version}'
html_show_sourcelink = False
html_copy_source = False

# Plotly figures: the build writes them as HTML that needs plotly.js; it is served from the site itself, on the
# pages that draw one.
import plotly
html_static_path = [str(Path(plotly.__file__).parent / 'package_data' / 'plotly.min.js')]


def _plotly_js(app, pagename, templatename, context, doctree):
    if 'plotly-graph-div' in context.get('body', ''): app.add_js_file('plotly.min.js')


def _output_folder(app):
    "myst-nb writes the notebooks' images beside the site (site/../jupyter_execute); keep them under build/ instead."
    app.env.mystnb_config = app.env.mystnb_config.copy(output_folder=str(Path(app.doctreedir).parent / 'site_jupyter_execute'))


def setup(app):
    app.connect('html-page-context', _plotly_js)
    app.connect('builder-inited', _output_folder, priority=600)   # after myst-nb's own, which sets the folder
