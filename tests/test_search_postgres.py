"""`mask-lab search --storage postgresql://...` against a real PostgreSQL server that the test starts itself.

Two worker processes share one study; a worker killed mid-trial (SIGKILL) leaves a study that the next worker
continues, after failing the dead trial by Optuna's heartbeat. Needs Debian's `postgresql` package (`.ci/run`
installs it) and the `psycopg` driver; skipped without them."""
import glob, json, os, re, shutil, signal, subprocess, sys, tempfile, time
from pathlib import Path

import pytest
import yaml

TINY = dict(model='resnet10t', size=[32, 32], crop='none', epochs=2, batch_size=32, num_workers=0, monitor='valid_loss')


def _postgres_bin() -> Path | None:
    "The bin folder of the newest Debian PostgreSQL (`/usr/lib/postgresql/<version>/bin`, off the PATH), if any."
    found = glob.glob('/usr/lib/postgresql/*/bin/initdb')
    version = lambda p: [int(x) for x in re.findall(r'\d+', Path(p).parts[-3])]
    return Path(max(found, key=version)).parent if found else None


@pytest.fixture(scope='module')
def postgres_url(free_port):
    "A PostgreSQL server on a free loopback port in a temporary folder, for this module; its SQLAlchemy URL."
    bin_dir = _postgres_bin()
    if bin_dir is None: pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    pytest.importorskip('psycopg', reason="the psycopg driver is not installed (pip install 'psycopg[binary]')")
    # initdb refuses to run as root: as root, run the server as the postgres user the package creates, in a folder
    # it owns (pytest's temporary folders are root-only)
    as_postgres = ['runuser', '-u', 'postgres', '--'] if os.geteuid() == 0 else []
    root = Path(tempfile.mkdtemp(prefix='mask_lab_pg_'))
    if as_postgres: shutil.chown(root, 'postgres')
    data, port = root / 'data', free_port()
    run = lambda *args: subprocess.run([*as_postgres, *map(str, args)], check=True, capture_output=True, text=True)
    try:
        run(bin_dir / 'initdb', '-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-locale', '--no-sync')
        run(bin_dir / 'pg_ctl', '-D', data, '-l', root / 'server.log', '-w', '-t', '60', 'start',
            '-o', f'-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off')
    except subprocess.CalledProcessError as e:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f'could not start PostgreSQL: {e.stderr or e.stdout}')
    yield f'postgresql+psycopg://postgres@127.0.0.1:{port}/postgres'
    subprocess.run([*as_postgres, str(bin_dir / 'pg_ctl'), '-D', str(data), '-m', 'immediate', 'stop'], capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def files(tmp_path, demo):
    (tmp_path / 'base.yaml').write_text(yaml.safe_dump({'data': str(demo), **TINY}))
    (tmp_path / 'space.yaml').write_text('lr: {low: 1.0e-4, high: 3.0e-2, log: true}\noptimizer: [adamw, sgd]\n')
    return tmp_path


def _worker(files, url, study, trials, out, *extra):
    "A `mask-lab search` process, as another machine would run it (its own runs folder `out`)."
    cmd = [sys.executable, '-m', 'mask_lab.cli', 'search', '--config', files / 'base.yaml', '--space', files / 'space.yaml',
           '--trials', trials, '--study', study, '--storage', url, '--out', out, *extra]
    return subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, 'OMP_NUM_THREADS': '1'})


def _finish(proc, timeout=300):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return out


def _trials(url, study):
    import optuna
    return optuna.load_study(study_name=study, storage=url).trials


def test_two_workers_share_one_study(postgres_url, files):
    a = _worker(files, postgres_url, 'shared', 2, files / 'machine_a', '--seed', 1)
    b = _worker(files, postgres_url, 'shared', 2, files / 'machine_b', '--seed', 2)
    _finish(a), _finish(b)
    trials = _trials(postgres_url, 'shared')
    assert sorted(t.number for t in trials) == [0, 1, 2, 3]                  # 2 + 2 trials, numbered by the study
    assert {t.state.name for t in trials} <= {'COMPLETE', 'PRUNED'}
    folders = {m: sorted(int(p.name.split('_')[1]) for p in (files / m / 'shared').glob('trial_*')) for m in ('machine_a', 'machine_b')}
    assert [len(v) for v in folders.values()] == [2, 2] and sorted(folders['machine_a'] + folders['machine_b']) == [0, 1, 2, 3]
    for t in trials:
        run_dir = Path(t.user_attrs['run_dir'])
        assert json.loads((run_dir / 'trial.json').read_text())['params'] == t.params


def test_a_worker_killed_mid_trial_leaves_the_study_usable(postgres_url, files, capsys):
    c = _worker(files, postgres_url, 'killed', 1, files / 'c', '--heartbeat', 1)
    started = files / 'c' / 'killed' / 'trial_0' / 'trial.json'   # written when the trial's run starts
    deadline = time.monotonic() + 120
    while not started.exists():
        assert c.poll() is None, c.communicate()[1]
        assert time.monotonic() < deadline, 'the worker never started its trial'
        time.sleep(0.05)
    c.send_signal(signal.SIGKILL); c.wait()
    [t] = _trials(postgres_url, 'killed')
    assert t.state.name == 'RUNNING'             # what Optuna knows of a killed worker: nothing, the trial looks alive
    time.sleep(2.5)                              # its heartbeat is now older than the grace period (2 x 1 s)
    from mask_lab.search import search           # the next worker: this process (one torch start less than another one)
    search(files / 'base.yaml', files / 'space.yaml', trials=1, study='killed', storage=postgres_url, out=files / 'd', heartbeat=1)
    assert 'failed 1 trial(s) whose worker stopped: 0' in capsys.readouterr().out
    trials = _trials(postgres_url, 'killed')
    assert [(t.number, t.state.name) for t in trials][0] == (0, 'FAIL')    # failed by the next worker, Optuna's way
    record = json.loads(started.read_text())                               # and in its own folder too
    assert (record['state'], record['error']) == ('fail', 'its worker stopped (no heartbeat)'), record
    assert trials[1].state.name in ('COMPLETE', 'PRUNED') and (files / 'd' / 'killed' / 'trial_1' / 'trial.json').exists()
