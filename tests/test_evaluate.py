"Edge cases of `mask_lab.evaluate` kept out of its notebook: run tables of hand-made folders, multi-head Grad-CAM."
import json
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
import torch

from mask_lab.core import MaskLabError, age_group, encode_class
from mask_lab.images import Preprocess
from mask_lab.demo_data import draw_face
from mask_lab.model import create_model
from mask_lab.evaluate import cutoff_effect, evaluation_report, predictions_frame, runs_curves, runs_dashboard, runs_html, worst_mistakes
from mask_lab.runs import format_runs_table, runs_table
from mask_lab.explain import gradcam, last_feature_layer


def _run(folder, name, f1s, model='resnet10t', layout='single', extra_lines=(), start=1.7e9):
    run = folder / name
    run.mkdir(parents=True)
    cfg = {'model': model, 'layout': layout, 'loss': 'ce', 'lr': 1e-3, 'batch_size': 32, 'fold': 0, 'epochs': len(f1s),
           'cutoffs': [30, 58], 'preprocess': {'size': [64, 48]}}
    (run / 'config.json').write_text(json.dumps(cfg))
    lines = [json.dumps({'kind': 'batch', 'epoch': 0, 'step': 1, 'loss': 3.0, 'lr': 1e-3, 'time': start})]
    for e, f in enumerate(f1s):
        lines.append(json.dumps({'kind': 'epoch', 'epoch': e, 'macro_f1': f, 'mask_f1': f + 0.1, 'gender_f1': f + 0.2,
                                 'age_f1': f - 0.1, 'accuracy': f, 'train_loss': 2.0 - e, 'valid_loss': 2.5 - e, 'seconds': 10.0}))
    (run / 'metrics.jsonl').write_text('\n'.join([*lines, *extra_lines]) + '\n')
    return run


@pytest.fixture
def runs(tmp_path):
    _run(tmp_path, 'a', [0.2, 0.5, 0.4])
    _run(tmp_path, 'b', [0.3, 0.6], model='efficientnet_b0', layout='multi')
    _run(tmp_path, 'torn', [0.9], extra_lines=['{"kind": "epoch", "macro'])       # killed while writing
    (tmp_path / 'started').mkdir(); (tmp_path / 'started' / 'config.json').write_text('{}')
    (tmp_path / 'started' / 'metrics.jsonl').write_text(json.dumps({'kind': 'batch', 'epoch': 0, 'loss': 3.0}) + '\n')
    (tmp_path / 'junk').mkdir()
    (tmp_path / 'submission.csv').write_text('ImageID,ans\n')
    (tmp_path / '.ipynb_checkpoints').mkdir()
    return tmp_path


def test_runs_table_best_epoch_and_statuses(runs):
    t = runs_table(runs)
    assert t.name.tolist() == ['b', 'a', 'junk', 'started', 'torn']     # best first; unscored runs last, by name
    st = t.set_index('name').status
    assert st['a'] == st['b'] == 'ok' and st['junk'] == 'no config' and st['started'] == 'no epochs yet'
    assert st['torn'].startswith('unreadable metrics') and f"{runs / 'torn' / 'metrics.jsonl'} line 3: not JSON" in st['torn'], st['torn']
    a = t.set_index('name').loc['a']
    assert (a.best_macro_f1, a.best_epoch, a.epochs_run, a.seconds, a.cutoffs) == (0.5, 2, 3, 30.0, '30-58')
    assert a.mask_f1 == pytest.approx(0.6) and a.age_f1 == pytest.approx(0.4)
    assert t.set_index('name').loc['b', 'layout'] == 'multi'
    assert runs_table(runs, sort='seconds', ascending=True).name.tolist()[:2] == ['b', 'a']


def test_format_runs_table_is_one_line_per_run(runs):
    text = format_runs_table(runs_table(runs))
    lines = text.splitlines()
    assert len(lines) == 6 and lines[0].split()[:3] == ['name', 'status', 'best_macro_f1']   # scores first
    assert '<NA>' not in text and 'nan' not in text.lower()
    assert '0.6000' in lines[1] and 'no config' in text
    assert format_runs_table(runs_table(runs / 'junk')) == '(no run folders)'


def test_runs_curves_skip_unreadable_runs(runs):
    fig = runs_curves(runs)
    assert sorted(t.name for t in fig.data if t.showlegend is not False) == ['a', 'b']
    assert list(next(t for t in fig.data if t.name == 'a').y) == [0.2, 0.5, 0.4]


def test_groups_intervals_and_created(tmp_path):
    import os, pandas as pd
    _run(tmp_path, 'top', [0.5], start=1.7e9)
    for k, f in enumerate((0.6, 0.7)): _run(tmp_path / 'cv5', f'fold_{k}', [f], start=1.8e9 + k)
    _run(tmp_path / 'study', 'trial_0', [0.4])
    (tmp_path / 'cv5' / 'fold_0' / 'valid_scores.json').write_text(json.dumps({'macro_f1': 0.6, 'ci95': [0.52, 0.68], 'people': 40, 'images': 280}))
    (tmp_path / 'cv5' / 'fold_1' / 'valid_scores.json').write_text(json.dumps({'macro_f1': 0.7, 'ci95': [0.67, 0.73], 'people': 400, 'images': 2800}))
    os.utime(tmp_path / 'top' / 'config.json', (0, 0))            # file times are not the run's date
    t = runs_table(tmp_path).set_index('name')
    assert t.group.to_dict() == {'fold_1': 'cv5', 'fold_0': 'cv5', 'top': '', 'trial_0': 'study'}
    assert t.too_small['fold_0'] and not t.too_small['fold_1'] and pd.isna(t.too_small['top'])   # +-0.08 vs +-0.03
    assert (t.f1_low['fold_0'], t.f1_high['fold_0'], t.valid_people['fold_0']) == (0.52, 0.68, 40)
    assert t.created['top'] == pd.Timestamp(datetime.fromtimestamp(1.7e9))
    text = format_runs_table(runs_table(tmp_path))
    assert text.splitlines()[0].split()[:4] == ['name', 'group', 'status', 'best_macro_f1'] and 'f1_low' in text
    html = runs_html(runs_table(tmp_path))
    assert html.count('too small to tell') == 1 and '<NA>' not in html and 'cv5/fold_0' in html
    fig = runs_curves(tmp_path)
    assert sorted(t.name for t in fig.data if t.showlegend is not False) == ['cv5/fold_0', 'cv5/fold_1', 'study/trial_0', 'top']
    assert list(fig.layout.yaxis.range) == [0, 1]


def test_runs_dashboard_filters_and_shows_errors(tmp_path):
    import re, shutil
    _run(tmp_path / 'runs', 'a', [0.2, 0.5])
    _run(tmp_path / 'runs' / 'cv', 'fold_0', [0.9])
    dash = runs_dashboard(tmp_path / 'runs')
    order = lambda: re.findall(r'<tr data-run="([^"]+)"', dash.table.value)
    assert order() == ['cv/fold_0', 'a']
    dash.group.value = ''
    assert order() == ['a']
    shutil.rmtree(tmp_path / 'runs')
    dash.refresh.click()                          # no exception escapes the click: the dashboard shows it
    assert 'no such runs folder' in dash.error.value and order() == ['a']


def test_runs_table_missing_folder(tmp_path):
    with pytest.raises(MaskLabError, match='no such runs folder'): runs_table(tmp_path / 'nope')


def test_report_and_cutoff_effect_on_known_predictions():
    ages = np.array([20, 45, 58, 59, 65, 70])
    table = pd.DataFrame({'age': ages, 'label': encode_class(0, 1, age_group(ages))})
    pred = encode_class(0, 1, [0, 1, 2, 2, 2, 2])          # the model calls 58 and 59 old
    preds = predictions_frame(table, np.eye(18)[pred] * 0.8 + 0.2 / 18)
    rep = evaluation_report(preds)
    assert rep['metrics']['mask_f1'] == rep['metrics']['gender_f1'] == 1.0
    assert rep['head_confusion']['age'].loc['30-59', '>=60'] == 2
    eff = cutoff_effect(preds, cutoffs=(58, 60))
    assert eff.loc[58, 'age_f1'] == 1.0 and eff.loc[60, 'age_f1'] < 1 and eff.loc[58, 'relabelled'] == 2
    assert worst_mistakes(preds).age.tolist() == [58, 59]


@pytest.fixture(scope='module')
def faces(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('faces')
    rng = np.random.default_rng(0)
    paths = []
    for i, (g, a, m) in enumerate([(0, 25, 0), (1, 70, 2)]):
        p = tmp / f'{i}.jpg'
        draw_face(rng, g, a, m, 0).save(p)
        paths.append(p)
    return paths


@pytest.mark.parametrize('name, layout', [('mobilenetv3_small_050', 'multi'), ('resnet10t', 'single')])
def test_gradcam_any_layout(faces, name, layout):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = create_model(name, layout=layout).eval()
    pre = Preprocess(size=(64, 48))
    layer = last_feature_layer(model, pre.size)
    assert any(m is layer for m in model.backbone.modules())
    overlays, maps = gradcam(model, faces, pre, return_maps=True)
    assert [o.size for o in overlays] == [(384, 512)] * 2
    assert maps.shape == (2, 64, 48) and all(m.std() > 0 for m in maps)
    _, other = gradcam(model, faces, pre, target_class=[5, 12], return_maps=True)
    assert not np.allclose(other, maps)
    with pytest.raises(MaskLabError, match='target_class'): gradcam(model, faces, pre, target_class=18)
