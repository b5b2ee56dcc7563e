import os, socket

import pytest

# Loaders use num_workers=0 and tests stay small under IN_TEST, as in nbdev_test.
os.environ.setdefault('IN_TEST', '1')


@pytest.fixture(scope='session')
def demo(tmp_path_factory):
    "One demo data folder (20 people, seed 0) for every test module that only reads it."
    from mask_lab.demo_data import make_demo_data
    return make_demo_data(tmp_path_factory.mktemp('demo') / 'demo', people=20, seed=0)


@pytest.fixture
def cli(capsys):
    "`cli(*args)`: the exit code and last stderr line of `mask-lab ARGS`, run in this process."
    from mask_lab.cli import main
    def run(*args):
        try: code = main([str(a) for a in args])
        except SystemExit as e: code = e.code
        err = capsys.readouterr().err.strip().splitlines()
        return code, err[-1] if err else ''
    return run


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


@pytest.fixture(scope='session')
def free_port():
    "`free_port()`: a TCP port on the loopback address that nothing listens on now."
    return _free_port
