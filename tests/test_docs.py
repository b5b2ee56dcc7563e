"The docs site's sources: a short README, and links from the front page and the pages that lead somewhere."
import json, re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r'\[[^\]]*\]\(([^)\s]+)\)')


def _front_page() -> str:
    nb = json.loads((ROOT / 'nbs' / 'index.ipynb').read_text())
    return '\n'.join(''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'markdown')


def _local_links(text: str):
    "Relative links of a markdown text, without their #anchor; web links and bare anchors left out."
    links = [m.split('#')[0] for m in LINK.findall(text)]
    return [l for l in links if l and not re.match(r'[a-z]+:', l)]


def test_readme_is_short():
    lines = (ROOT / 'README.md').read_text().splitlines()
    assert len(lines) <= 150, f'README.md has {len(lines)} lines (at most 150): move a section to a page in docs/'


def test_front_page_links_exist():
    # README.md lies at the repository root and the site puts the front page at its root too: links are from there.
    links = _local_links(_front_page())
    missing = [l for l in links if not (ROOT / l).exists()]
    assert links and not missing, f'nbs/index.ipynb links to missing pages: {missing}'


def test_front_page_links_every_page_and_chapter():
    linked = {(ROOT / l).resolve() for l in _local_links(_front_page())}
    pages = sorted(ROOT.glob('docs/*.md')) + sorted(ROOT.glob('nbs/[0-9]*.ipynb'))
    unlinked = [str(p.relative_to(ROOT)) for p in pages if p.resolve() not in linked]
    assert not unlinked, f"the front page (nbs/index.ipynb: 'More' or the notebook map) does not link {unlinked}"


def test_page_links_exist():
    missing = [f'{md.name}: {l}' for md in sorted(ROOT.glob('docs/*.md')) for l in _local_links(md.read_text())
               if not (md.parent / l).exists()]
    assert not missing, f'links to missing files in docs/: {missing}'
