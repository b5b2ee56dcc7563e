"The nbdev CI checks, independent of git state: the package matches the notebooks, and the notebooks are clean."
import filecmp, shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _copy_project(dst: Path):
    shutil.copy(ROOT / 'settings.ini', dst)
    shutil.copytree(ROOT / 'nbs', dst / 'nbs', ignore=shutil.ignore_patterns('.ipynb_checkpoints'))
    shutil.copytree(ROOT / 'mask_lab', dst / 'mask_lab', ignore=shutil.ignore_patterns('__pycache__'))


def _differences(a: Path, b: Path, pattern: str):
    return [p.name for p in sorted(a.glob(pattern)) if not (b / p.name).exists() or not filecmp.cmp(p, b / p.name, shallow=False)]


def test_package_matches_notebooks(tmp_path):
    _copy_project(tmp_path)
    subprocess.run([BIN / 'nbdev_export'], cwd=tmp_path, check=True, capture_output=True)
    changed = _differences(tmp_path / 'mask_lab', ROOT / 'mask_lab', '*.py')
    assert not changed, f'run nbdev_export: mask_lab/ is out of date for {changed}'


def test_notebooks_are_clean(tmp_path):
    _copy_project(tmp_path)
    subprocess.run([BIN / 'nbdev_clean'], cwd=tmp_path, check=True, capture_output=True)
    changed = _differences(tmp_path / 'nbs', ROOT / 'nbs', '*.ipynb')
    assert not changed, f'run nbdev_clean: these notebooks are not clean: {changed}'


def test_readme_matches_index_notebook():
    out = subprocess.run([BIN / 'jupyter', 'nbconvert', '--to', 'markdown', '--stdout', ROOT / 'nbs' / 'index.ipynb'],
                         check=True, capture_output=True, text=True).stdout
    assert out == (ROOT / 'README.md').read_text(), 'README.md is generated from nbs/index.ipynb: run `make readme`'
