"`mask-lab search` on the default SQLite storage: trials as run folders, a study that continues, and bad input as one line each."
import json

import pytest
import yaml

TINY = dict(model='resnet10t', size=[32, 32], crop='none', epochs=2, batch_size=32, num_workers=0, monitor='valid_loss')
SPACE = 'lr: {low: 1.0e-4, high: 3.0e-2, log: true}\noptimizer: [adamw, sgd]\n'


@pytest.fixture
def files(tmp_path, demo):
    (tmp_path / 'base.yaml').write_text(yaml.safe_dump({'data': str(demo), **TINY}))
    (tmp_path / 'space.yaml').write_text(SPACE)
    return tmp_path


def _search(cli, files, *extra, study='s', trials=1):
    return cli('search', '--config', files / 'base.yaml', '--space', files / 'space.yaml', '--trials', trials, '--study', study,
               '--out', files / 'runs', '--seed', 0, *extra)


def test_search_writes_trial_run_folders_and_continues(cli, files):
    from mask_lab.search import load_study, trials_table
    from mask_lab.runs import runs_table
    code, err = _search(cli, files, trials=2)
    assert code == 0, err
    code, err = _search(cli, files, trials=1)   # the same command again: one more trial of the same study
    assert code == 0, err
    study = load_study('s', out=files / 'runs')
    assert [t.number for t in study.trials] == [0, 1, 2]
    assert {t.state.name for t in study.trials} <= {'COMPLETE', 'PRUNED'}
    for t in study.trials:
        rec = json.loads((files / 'runs' / 's' / f'trial_{t.number}' / 'trial.json').read_text())
        assert (rec['study'], rec['number'], rec['params'], rec['state']) == ('s', t.number, t.params, t.state.name.lower())
        cfg = json.loads((files / 'runs' / 's' / f'trial_{t.number}' / 'config.json').read_text())
        assert (cfg['lr'], cfg['optimizer'], cfg['model']) == (t.params['lr'], t.params['optimizer'], 'resnet10t')
    assert sorted(runs_table(files / 'runs' / 's').name) == ['trial_0', 'trial_1', 'trial_2']
    table = trials_table(study, out=files / 'runs')
    assert list(table.epochs_run) == list(table.epochs_reported)
    search_json = json.loads((files / 'runs' / 's' / 'search.json').read_text())
    assert search_json['direction'] == 'minimize' and search_json['storage'].endswith('study.db')


def test_bad_space_is_one_line(cli, files):
    (files / 'space.yaml').write_text('lr: {low: 1.0e-4, high: 3.0e-2}\nlearnrate: [1, 2]\n')
    code, err = _search(cli, files)
    assert (code, err) == (2, f'mask-lab: error: {files / "space.yaml"}: learnrate: not a TrainConfig field')
    (files / 'space.yaml').write_text('optimizer: [adamw, lion]\n')
    code, err = _search(cli, files)
    assert code == 2 and err == f"mask-lab: error: {files / 'space.yaml'}: optimizer: expected one of adamw, adam, sgd, got 'lion'"
    assert not (files / 'runs').exists()   # nothing was started


def test_unreachable_storage_is_one_line(cli, files):
    code, err = _search(cli, files, '--storage', 'postgresql://lab:secret@127.0.0.1:1/studies')
    assert code == 2
    assert err.startswith('mask-lab: error: cannot open the study storage postgresql+psycopg://lab:***@127.0.0.1:1/studies: '
                          'connection failed'), err
    assert 'secret' not in err


def test_a_study_refuses_another_config(cli, files):
    code, err = _search(cli, files, trials=1)
    assert code == 0, err
    (files / 'base.yaml').write_text(yaml.safe_dump({'data': str(files), **TINY, 'epochs': 3}))
    code, err = _search(cli, files, trials=1)
    assert code == 2 and "was started with another config: epochs is 2 there, 3 here" in err, err
    (files / 'base.yaml').write_text(yaml.safe_dump({'data': str(files), **TINY}))   # data is the machine's own: allowed
    (files / 'space.yaml').write_text('lr: {low: 1.0e-4, high: 1.0e-2, log: true}\noptimizer: [adamw, sgd]\n')
    code, err = _search(cli, files, trials=1)
    assert code == 2 and 'was started with another search space (differs in lr)' in err, err


def test_a_trial_whose_loss_explodes_fails_and_the_search_goes_on(cli, files):
    from mask_lab.search import load_study
    (files / 'space.yaml').write_text('lr: [1.0e+8]\n')   # NaN loss within two epochs
    code, err = _search(cli, files, trials=2)
    assert code == 0, err
    trials = load_study('s', out=files / 'runs').trials
    assert [t.state.name for t in trials] == ['FAIL', 'FAIL']
    assert trials[0].user_attrs['error'].startswith('training loss is nan')
    rec = json.loads((files / 'runs' / 's' / 'trial_0' / 'trial.json').read_text())
    assert rec['state'] == 'fail' and rec['error'] == trials[0].user_attrs['error']


def test_search_jobs_run_workers_one_gpu_each(cli, files, monkeypatch):
    from mask_lab.search import load_study
    gpus = ('GPU-5c1d0f2e', 'GPU-77ab9c31')   # a preset CUDA_VISIBLE_DEVICES as Slurm sets it; no such GPU: the CPU trains
    monkeypatch.setenv('CUDA_VISIBLE_DEVICES', ','.join(gpus))
    code, err = _search(cli, files, '--jobs', '2', trials=2)
    assert code == 0, err
    logs = files / 'runs' / 's' / 'logs'
    assert json.loads((logs / 'devices.json').read_text()) == {'0': gpus[0], '1': gpus[1]}
    for i, gpu in enumerate(gpus):
        log = (logs / f'worker_{i}.txt').read_text()
        assert log.startswith(f'worker {i} on GPU {gpu}') and 'trial' in log, log
    study = load_study('s', out=files / 'runs')
    assert len(study.trials) == 2 and {t.state.name for t in study.trials} <= {'COMPLETE', 'PRUNED'}   # the trials shared out
    for t in study.trials:
        env = json.loads((files / 'runs' / 's' / f'trial_{t.number}' / 'env.json').read_text())
        assert env['cuda_visible_devices'] in gpus


def test_search_jobs_with_a_bad_space_start_no_worker(cli, files):
    (files / 'space.yaml').write_text('learnrate: [1, 2]\n')
    code, err = _search(cli, files, '--jobs', '2', trials=2)
    assert (code, err) == (2, f'mask-lab: error: {files / "space.yaml"}: learnrate: not a TrainConfig field')
    assert not (files / 'runs').exists()
