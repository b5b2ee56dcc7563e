"Experiment files, cross-validation (resuming, folds as processes), comparisons with a paired bootstrap; through the command line."
import json, os, shutil, sys

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from mask_lab.core import MaskLabError
from mask_lab.config import read_experiment
from mask_lab.metrics import bootstrap_macro_f1, person_resamples, weighted_macro_f1, PRED_COLUMNS
from mask_lab.experiments import compare, fold_state

FAKE_GPUS = ('GPU-5c1d0f2e', 'GPU-77ab9c31')   # a preset CUDA_VISIBLE_DEVICES of UUIDs

# Small and quick: whole photos at 32x32, one epoch, no loader workers.
RECIPE = 'model: resnet10t\nsize: [32, 32]\ncrop: none\naugment: light\nepochs: 1\nbatch_size: 32\nlr: 3e-3\nnum_workers: 0\n'


@pytest.fixture(scope='module')
def lab(demo, tmp_path_factory):
    "An experiment file, one run of it and a 2-fold CV of it (the folds in two processes at once, with a fold ensemble)."
    from mask_lab.cli import main
    root = tmp_path_factory.mktemp('lab')
    exp = root / 'exp.yaml'
    exp.write_text(f'data: {demo}\n{RECIPE}')
    assert main(['train', '--config', str(exp), '--out', str(root / 'runs'), '--name', 'one', '--quiet']) == 0
    preset = os.environ.get('CUDA_VISIBLE_DEVICES')
    os.environ['CUDA_VISIBLE_DEVICES'] = ','.join(FAKE_GPUS)   # as Slurm presets it; no such GPU, so the folds train on the CPU
    try: assert main(['cv', '--config', str(exp), '--folds', '2', '--jobs', '2', '--out', str(root / 'runs'),
                      '--eval', str(demo / 'eval'), '--quiet']) == 0
    finally:
        if preset is None: del os.environ['CUDA_VISIBLE_DEVICES']
        else: os.environ['CUDA_VISIBLE_DEVICES'] = preset
    return root, exp


def one_line(cli, *args):
    code, err = cli(*args)
    assert code == 2 and err.startswith('mask-lab: error:') and 'Traceback' not in err, (code, err)
    return err


def test_config_errors_name_the_file_and_key(tmp_path, demo, cli):
    bad = tmp_path / 'bad.yaml'
    for text, message in [('learning_rate: 0.1\n', "bad.yaml: unknown key 'learning_rate' (not a TrainConfig field)"),
                          ('epochs: many\n', "bad.yaml: epochs: expected an integer, got 'many'"),
                          ('size: 80\n', 'bad.yaml: size: expected a list of 2, got 80'),
                          ('optimizer: lion\n', 'bad.yaml: optimizer: expected one of adamw, adam, sgd'),
                          ('lr: 0\n', 'bad.yaml: lr must be > 0'),
                          ('lr: [1\n', 'bad.yaml: cannot read as YAML')]:
        bad.write_text(text)
        with pytest.raises(MaskLabError, match='^' + str(bad)): read_experiment(bad)
        assert message in one_line(cli, 'train', '--config', bad, '--data', demo, '--out', tmp_path / 'runs')
    assert not (tmp_path / 'runs').exists()   # nothing made


def test_a_runs_config_is_an_experiment_file(lab, cli):
    root, exp = lab
    run = root / 'runs' / 'one'
    recorded = json.loads((run / 'config.json').read_text())
    settings = read_experiment(run / 'config.json', {'lr': 1e-3})
    assert settings['lr'] == 1e-3 and settings['size'] == [32, 32] and settings['model'] == 'resnet10t'
    edited = run.parent / 'edited.json'
    edited.write_text(json.dumps({**recorded, 'frozen_stages': 2}))
    assert 'edited.json: frozen_stages is 2, but these settings give 0' in one_line(cli, 'train', '--config', edited)
    edited.write_text(json.dumps({**recorded, 'num_classes': 4}))
    assert 'num_classes is 4' in one_line(cli, 'train', '--config', edited)


def test_every_run_saves_its_validation_predictions(lab):
    run = lab[0] / 'runs' / 'one'
    preds = pd.read_csv(run / 'valid_predictions.csv')
    scores = json.loads((run / 'valid_scores.json').read_text())
    assert list(preds.columns) == ['path', 'person', 'label', *PRED_COLUMNS]
    assert sorted(scores) == ['ci95', 'images', 'macro_f1', 'people'] and scores['images'] == len(preds)
    y, p = preds.label.to_numpy(), preds[PRED_COLUMNS].to_numpy().argmax(1)
    assert scores['macro_f1'] == pytest.approx(f1_score(y, p, average='macro'))
    assert scores['ci95'] == pytest.approx(list(bootstrap_macro_f1(y, p, preds.person.astype(str))))


def test_bootstrap_is_sklearns_macro_f1_on_resampled_people():
    rng = np.random.default_rng(0)
    y, people = rng.integers(0, 18, 70), np.repeat(np.arange(10), 7)
    pred = np.where(rng.random(70) < 0.5, y, rng.integers(0, 18, 70))
    for w in person_resamples(people, n=20, seed=1):
        rep = np.repeat(np.arange(70), w)
        assert weighted_macro_f1(y, pred, w)[0] == pytest.approx(f1_score(y[rep], pred[rep], average='macro'), abs=1e-12)


def test_cv_writes_oof_scores_and_a_fold_ensemble(lab, demo):
    cv_dir = lab[0] / 'runs' / 'exp'
    info = json.loads((cv_dir / 'cv.json').read_text())
    assert info['status'] == 'done' and info['folds'] == 2 and info['config']['n_splits'] == 2
    assert sorted((cv_dir / 'logs').glob('fold_*.txt')) == [cv_dir / 'logs' / f'fold_{k}.txt' for k in range(2)]   # one process each
    oof = pd.read_csv(cv_dir / 'oof_predictions.csv')
    assert len(oof) == 20 * 7 and oof.path.is_unique and sorted(oof.fold.unique()) == [0, 1]
    scores = json.loads((cv_dir / 'oof_scores.json').read_text())
    assert scores['people'] == 20 and sorted(scores['heads']) == ['age', 'gender', 'mask']
    for s in [scores, *scores['heads'].values()]: assert s['ci95'][0] <= s['macro_f1'] <= s['ci95'][1]
    sub = pd.read_csv(cv_dir / 'submission.csv')
    assert len(sub) == len(pd.read_csv(demo / 'eval' / 'info.csv')) and 'eval_macro_f1' in scores


def test_cv_jobs_give_each_fold_its_own_gpu_of_a_preset_list(lab):
    cv_dir = lab[0] / 'runs' / 'exp'
    devices = json.loads((cv_dir / 'logs' / 'devices.json').read_text())
    assert devices == {'0': FAKE_GPUS[0], '1': FAKE_GPUS[1]}   # both at once, each on its own entry of the list
    for k, gpu in devices.items():
        assert (cv_dir / 'logs' / f'fold_{k}.txt').read_text().startswith(f'fold {k} on GPU {gpu} (CUDA_VISIBLE_DEVICES={gpu})')
        assert json.loads((cv_dir / f'fold_{k}' / 'env.json').read_text())['cuda_visible_devices'] == gpu   # the fold's own record


def test_processes_share_the_gpus_torch_sees_without_a_preset_list(tmp_path, monkeypatch, capsys):
    import torch
    from mask_lab.runtime import run_processes
    monkeypatch.delenv('CUDA_VISIBLE_DEVICES', raising=False)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 2)   # a fake two-GPU machine
    show = [sys.executable, '-c', 'import os, time; time.sleep(0.5); print(os.environ["CUDA_VISIBLE_DEVICES"])']
    assert run_processes({k: show for k in range(3)}, jobs=3, log_dir=tmp_path, what='fold') == {0: 0, 1: 0, 2: 0}
    devices = json.loads((tmp_path / 'devices.json').read_text())
    assert devices == {'0': '0', '1': '1', '2': '0'}   # round robin over the GPUs when more run at once than there are GPUs
    assert [(tmp_path / f'fold_{k}.txt').read_text().splitlines()[1] for k in range(3)] == ['0', '1', '0']
    out = capsys.readouterr().out
    assert 'fold 0: started on GPU 0' in out and 'fold 1: started on GPU 1' in out and 'fold 2: done' in out


def test_cv_resumes_with_the_folds_not_done(lab, capsys):
    from mask_lab.cli import main
    root, exp = lab
    cv_dir = root / 'runs' / 'exp'
    copy = root / 'runs' / 'resumed'
    shutil.copytree(cv_dir, copy)
    shutil.rmtree(copy / 'fold_1')                          # killed before fold 1 kept anything
    (copy / 'oof_scores.json').unlink(); (copy / 'oof_predictions.csv').unlink()
    kept = (copy / 'fold_0' / 'train.log').read_text()
    assert [fold_state(copy, k) for k in range(2)] == ['done', 'pending']
    capsys.readouterr()
    code = main(['cv', '--config', str(exp), '--folds', '2', '--out', str(root / 'runs'), '--name', 'resumed'])
    out = capsys.readouterr().out
    assert code == 0 and 'fold 1 of 2: training' in out and 'fold 0' not in out, out
    assert (copy / 'fold_0' / 'train.log').read_text() == kept
    assert len(pd.read_csv(copy / 'oof_predictions.csv')) == 20 * 7


def test_a_cv_folder_from_another_config_is_refused(lab, cli, tmp_path):
    root, exp = lab
    err = one_line(cli, 'cv', '--config', exp, '--folds', 2, '--out', root / 'runs', '--epochs', 2)
    assert 'exp/cv.json: this CV folder was made from another config (epochs: 1 there, 2 here)' in err, err
    assert "n_splits: 2 there, 3 here" in one_line(cli, 'cv', '--config', exp, '--folds', 3, '--out', root / 'runs')
    assert 'fold must be in 0..1' in one_line(cli, 'cv', '--out', root / 'runs', '--name', 'exp', '--fold', 2)
    assert 'not a CV folder' in one_line(cli, 'cv', '--out', root / 'runs', '--name', 'nothing')


def test_compare_tells_noise_from_a_difference(lab, cli, capsys):
    from mask_lab.cli import main
    runs = lab[0] / 'runs'
    better = runs / 'better'
    shutil.copytree(runs / 'one', better)
    p = pd.read_csv(better / 'valid_predictions.csv', dtype={'person': str})
    p[PRED_COLUMNS] = np.eye(18)[p.label]                   # right on every image
    p.to_csv(better / 'valid_predictions.csv', index=False)
    capsys.readouterr()
    assert main(['compare', str(runs / 'one'), str(better)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith('better is better by '), last
    c = compare(runs / 'one', runs / 'exp')                 # a run against a CV: on the run's validation images
    assert c['images'] == len(p) and c['kinds'] == ('validation', 'out-of-fold')
    same = compare(runs / 'one', runs / 'one')
    assert same['better'] is None and same['sentence'].startswith('no clear difference') and same['difference'] == 0
    p['path'] = p.path + '.elsewhere'; p.to_csv(better / 'valid_predictions.csv', index=False)
    assert 'share no validation image' in one_line(cli, 'compare', runs / 'one', better)


def test_runs_shows_each_interval(lab, capsys):
    from mask_lab.cli import main
    capsys.readouterr()
    assert main(['runs', str(lab[0] / 'runs')]) == 0
    out = capsys.readouterr().out
    assert '95% interval' in out and 'fold_1' in out and 'too few people to tell' in out, out


def test_a_cv_of_mask_labels_alone_predicts_every_photo_out_of_fold(demo, tmp_path, cli):
    "A real-masks table on its own (no gender, no age): folds by source photo, scores of the mask head, and label-issues on it."
    from PIL import Image
    from mask_lab.cli import main
    real = tmp_path / 'real'; (real / 'images').mkdir(parents=True)
    photos = sorted((demo / 'train' / 'images').glob('*/mask1.jpg'))[:6] + sorted((demo / 'train' / 'images').glob('*/normal.jpg'))[:6]
    for k, f in enumerate(photos): Image.open(f).save(real / 'images' / f'r{k}.jpg')
    (real / 'labels.csv').write_text('file,mask,source_image\n' + ''.join(f'r{k}.jpg,{"worn" if k < 6 else "none"},s{k // 2}\n' for k in range(12)))
    exp = tmp_path / 'exp.yaml'
    exp.write_text(f'data: {real}\n{RECIPE}')
    one_line(cli, 'cv', '--config', str(exp), '--folds', '7', '--out', str(tmp_path / 'runs'), '--name', 'too_many')   # 6 source photos
    assert not (tmp_path / 'runs' / 'too_many').exists()
    assert main(['cv', '--config', str(exp), '--folds', '3', '--out', str(tmp_path / 'runs'), '--name', 'masks', '--quiet']) == 0
    oof = pd.read_csv(tmp_path / 'runs' / 'masks' / 'oof_predictions.csv')
    assert len(oof) == 12 and set(oof.fold) == {0, 1, 2}
    assert (oof.groupby(oof.path.str.extract(r'r(\d+)', expand=False).astype(int) // 2).fold.nunique() == 1).all()   # one photo's crops: one fold
    scores = json.loads((tmp_path / 'runs' / 'masks' / 'oof_scores.json').read_text())
    assert set(scores['heads']) == {'mask'} and scores['macro_f1'] == scores['heads']['mask']['macro_f1']
    assert main(['label-issues', str(tmp_path / 'runs' / 'masks')]) == 0
    issues = pd.read_csv(tmp_path / 'runs' / 'masks' / 'label_issues.csv')
    assert len(issues) == 12 and set(issues.kind) == {'mask'}


def test_a_cv_names_eval_photos_that_are_training_photos_before_any_fold_trains(demo, tmp_path, cli, monkeypatch):
    import mask_lab.experiments as experiments
    leaky = tmp_path / 'leaky'; leaky.mkdir()
    copied = sorted((demo / 'train' / 'images').glob('*/mask1.jpg'))[0]
    shutil.copy(copied, leaky / 'copy.jpg')
    shutil.copy(sorted((demo / 'eval' / 'images').iterdir())[0], leaky / 'unseen.jpg')
    def no_training(*args): raise MaskLabError('no fold trains in this test')
    monkeypatch.setattr(experiments, '_train_fold', no_training)
    exp = tmp_path / 'exp.yaml'
    exp.write_text(f'data: {demo}\n{RECIPE}')
    code, err = cli('cv', '--config', exp, '--folds', '2', '--out', tmp_path / 'runs', '--name', 'leak', '--eval', leaky)
    assert (code, err) == (2, 'mask-lab: error: no fold trains in this test')
    overlap = pd.read_csv(tmp_path / 'runs' / 'leak' / 'eval_overlap.csv')
    assert overlap.path.tolist() == [str(leaky / 'copy.jpg')] and str(copied) in overlap.reason[0]
