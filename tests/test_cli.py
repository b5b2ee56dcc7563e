"The installed `mask-lab` console script: help for every command, one-line errors."
import subprocess, sys
from pathlib import Path

import pytest

MASK_LAB = Path(sys.executable).parent / 'mask-lab'


def run(*args):
    return subprocess.run([str(MASK_LAB), *map(str, args)], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize('command, option', [('demo-data', '--people'), ('train', '--age-cutoffs'),
                                             ('predict', '--answers'), ('score', 'answers')])
def test_help_explains_every_command(command, option):
    r = run(command, '--help')
    assert r.returncode == 0 and option in r.stdout


def test_top_level_help_lists_commands():
    r = run('--help')
    assert r.returncode == 0
    for command in ('demo-data', 'train', 'predict', 'score'): assert command in r.stdout


def test_bad_arguments_are_one_clear_line(tmp_path):
    r = run('train', '--data', tmp_path / 'missing')
    assert r.returncode == 2
    assert 'no such folder' in r.stderr and 'Traceback' not in r.stderr


def test_user_errors_are_not_tracebacks(tmp_path):
    (tmp_path / 'empty').mkdir()
    r = run('train', '--data', tmp_path / 'empty', '--out', tmp_path / 'runs')
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith('mask-lab: error:') and 'Traceback' not in r.stderr
    assert not (tmp_path / 'runs').exists()  # nothing half-made


def test_score_command(tmp_path):
    (tmp_path / 'a.csv').write_text('ImageID,ans\nx.jpg,3\ny.jpg,4\n')
    (tmp_path / 'b.csv').write_text('ImageID,ans\ny.jpg,4\nx.jpg,3\n')
    r = run('score', tmp_path / 'a.csv', tmp_path / 'b.csv')
    assert r.returncode == 0 and r.stdout.strip() == '1.0000'


@pytest.mark.parametrize('which', ['submission', 'answers'])
def test_score_on_an_empty_csv_is_one_line(tmp_path, which):
    (tmp_path / 'a.csv').write_text('ImageID,ans\nx.jpg,3\n')
    (tmp_path / 'empty.csv').write_text('')
    files = ['empty.csv', 'a.csv'] if which == 'submission' else ['a.csv', 'empty.csv']
    r = run('score', *(tmp_path / f for f in files))
    assert r.returncode == 2 and 'Traceback' not in r.stderr, r.stderr
    assert r.stderr.strip() == f'mask-lab: error: {tmp_path / "empty.csv"}: the {which} file is empty (expected columns ImageID,ans)'
