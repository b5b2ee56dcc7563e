"""Does `label_issues` find planted label errors? Precision and recall of its top suspects on demo data. Prints one JSON object.

    python bench/bench_label_issues.py                          # 3 seeds, 80 demo people each, 3-fold CV
    python bench/bench_label_issues.py --seeds 0 --people 60
    python bench/bench_label_issues.py --smoke                  # seconds: tiny data, one epoch (run by the tests)
    python bench/bench_label_issues.py --retrain                # and models trained on the noisy, corrected and clean labels
    python bench/bench_label_issues.py --data UTK --people 600 --test-data UTK_TEST --model mobilenetv2_100 --size 96 96 --retrain
                                                                # real faces: a sample of a competition-format folder's people

For each seed: `mask_lab.demo_data.make_demo_data` draws `--people` people (7 photos each, 192x256), and a known share
(`--rate`, 5%) of each kind of label is made wrong through a corrections file (`--corrections`, the lab's own way
of changing labels, so the photos stay untouched): the gender of 5% of the people, the age of another 5% moved across
an age-group boundary (to the middle of a neighbouring group), and for 5% of the photos the `incorrect_mask` and
`normal` labels swapped (a swap changes two photos of one person). `mask_lab.experiments.cv` cross-validates the
recipe below on the noisy labels, and `mask_lab.label_issues.label_issues` ranks the suspects of each kind from the
out-of-fold probabilities: photos for the mask status, people for gender and age. For each kind, among its top k
suspects (k = the number planted, and 2k): precision = planted flips found / k, recall = planted flips found / planted.
Target: precision at k >= 0.8 in every seed (all kinds together: found / planted over the three kinds).

With `--retrain`, three models are trained on fold 0's split of the same people, one each on the noisy labels, the
corrected ones (every suggestion of `suggested_corrections` accepted over the planted errors, as a user who
trusts the list would) and the clean ones, and scored on `--test-people` fresh demo people with clean labels;
`mask_lab.metrics.paired_bootstrap` (what `mask-lab compare` uses) gives each difference with its interval.

`--data` samples `--people` people of a competition-format folder (its `train/`) instead of drawing demo people, and
`--test-data` scores the `--retrain` models on another such folder's people.

The CV folders are kept in `--work` (default `~/.cache/mask_lab/bench_label_issues`); a second run reuses them.
"""
from __future__ import annotations
import argparse, json, os, sys, time
from pathlib import Path

import numpy as np
import pandas as pd

CACHE = Path(os.environ.get('XDG_CACHE_HOME', Path.home() / '.cache')) / 'mask_lab'
RECIPE = dict(model='resnet10t', layout='multi', crop='face', size=[64, 64], augment='light', epochs=16, cache='ram', lr=3e-3, batch_size=16,
              class_weights=1, label_smoothing=0, cutoffs=[30, 60], num_workers=0)
PHOTO_SIZE = (192, 256)   # half the demo's default: the recipe's 64x64 face crops need no more, and decoding costs less
NEIGHBOUR_AGE = {0: (45,), 1: (22, 68), 2: (45,)}   # for each age group (30/60 cut-offs), ages in the middle of the groups beside it


def sample_folder(source: Path, dest: Path, people: int, seed: int) -> Path:
    "`dest` as a competition-format folder of a seeded sample of `people` of `source/train`'s people (photos hard-linked, not copied)."
    import shutil
    table = pd.read_csv(source / 'train' / 'train.csv', dtype={'id': str})
    table = table.sample(n=min(people, len(table)), random_state=seed).sort_values('id')
    (dest / 'train' / 'images').mkdir(parents=True)
    for folder in table.path: shutil.copytree(source / 'train' / 'images' / folder, dest / 'train' / 'images' / folder, copy_function=os.link)
    table.to_csv(dest / 'train' / 'train.csv', index=False)
    if (source / 'train' / 'faces.csv').exists():
        faces = pd.read_csv(source / 'train' / 'faces.csv')
        faces[faces.file.str.split('/').str[0].isin(set(table.path))].to_csv(dest / 'train' / 'faces.csv', index=False)
    return dest


def plant_errors(demo: Path, rate: float, seed: int) -> pd.DataFrame:
    "Corrections (person, field, value, reason) that make `rate` of the genders, ages and incorrect/normal photo labels wrong."
    from mask_lab.core import GENDER_NAMES, age_group
    people = pd.read_csv(demo / 'train' / 'train.csv', dtype={'id': str})
    rng = np.random.default_rng(seed)
    n = len(people)
    n_people, n_swaps = max(1, round(rate * n)), max(1, round(rate * n * 7 / 2))   # a swap changes two photos
    order = rng.permutation(n)
    rows = []
    for i in order[:n_people]:
        p = people.iloc[i]
        rows.append((p.id, 'gender', GENDER_NAMES[1 - GENDER_NAMES.index(p.gender)], 'planted'))
    for i in order[n_people:2 * n_people]:
        p = people.iloc[i]
        rows.append((p.id, 'age', str(rng.choice(NEIGHBOUR_AGE[int(age_group(p.age, (30, 60)))])), 'planted'))
    for i in rng.permutation(n)[:n_swaps]:
        pid = people.iloc[i].id
        rows += [(pid, 'incorrect_mask', 'normal', 'planted'), (pid, 'normal', 'incorrect_mask', 'planted')]
    return pd.DataFrame(rows, columns=['person', 'field', 'value', 'reason'])


def planted_keys(planted: pd.DataFrame, demo: Path) -> dict:
    "The planted errors as the keys `label_issues` ranks: photo paths for the mask, person ids for gender and age."
    images = demo.resolve() / 'train' / 'images'
    folders = {f.name.split('_')[0]: f.name for f in images.iterdir()}
    mask = planted[planted.field.isin(('incorrect_mask', 'normal'))]
    return {'mask': {str(images / folders[p] / f'{f}.jpg') for p, f in zip(mask.person, mask.field)},
            'gender': set(planted.person[planted.field == 'gender']), 'age': set(planted.person[planted.field == 'age'])}


def scores(issues: pd.DataFrame, keys: dict) -> dict:
    "Precision and recall at k and 2k (k = planted count) of each kind's ranking, and of all kinds together."
    out, found_k, planted_all = {}, 0, 0
    for kind, truth in keys.items():
        ranked = issues[issues.kind == kind].sort_values('quality', kind='stable')
        ids = (ranked.photo if kind == 'mask' else ranked.person).astype(str).tolist()
        k = len(truth); res = {'planted': k, 'flagged': int(ranked.issue.sum())}
        for name, top in (('k', k), ('2k', 2 * k)):
            hits = len(set(ids[:top]) & truth)
            res[f'precision_at_{name}'], res[f'recall_at_{name}'] = round(hits / top, 3), round(hits / k, 3)
        flagged = set(np.asarray(ids)[ranked.issue.to_numpy()])
        res['flagged_precision'] = round(len(flagged & truth) / max(1, len(flagged)), 3)
        res['flagged_recall'] = round(len(flagged & truth) / k, 3)
        out[kind] = res; found_k += round(res['precision_at_k'] * k); planted_all += k
    out['all_precision_at_k'] = round(found_k / planted_all, 3)
    return out


def accepted(planted: pd.DataFrame, suggested: pd.DataFrame) -> pd.DataFrame:
    "The corrections a user ends with who accepts every suggestion: the planted errors, each suggestion put over them."
    rows = planted.set_index(['person', 'field'])[['value', 'reason']].copy()
    for s in suggested.itertuples():
        rows.loc[(str(s.person), s.field), ['value', 'reason']] = [s.value, 'accepted']
    return rows.reset_index()


def retrain(base: Path, demo: Path, seed: int, folds: int, recipe: dict, test_people: int, test_data: Path | None = None) -> dict:
    "Test macro F1 of models trained on the noisy, the corrected and the clean labels, and the paired differences."
    from mask_lab.demo_data import make_demo_data
    from mask_lab.data import load_train
    from mask_lab.inference import predict_runs_probs
    from mask_lab.metrics import paired_bootstrap
    from mask_lab.train import train
    test_dir = test_data or base / 'test'
    if not (test_dir / 'train' / 'train.csv').exists():
        make_demo_data(test_dir, people=test_people, seed=1000 + seed, eval_people=0, size=PHOTO_SIZE)
    test, _ = load_train(test_dir)
    preds = {}
    for name, corrections in (('noisy', base / 'planted.csv'), ('corrected', base / 'accepted.csv'), ('clean', None)):
        run = base / f'train_{name}'
        if not (run / 'checkpoints' / 'best.pt').exists():
            import shutil; shutil.rmtree(run, ignore_errors=True)
            train(str(demo), out=base, name=run.name, **{**recipe, 'seed': seed, 'n_splits': folds, 'fold': 0,
                  'corrections': str(corrections) if corrections else None}, verbose=False, live=False)
        preds[name] = predict_runs_probs(run, test, num_workers=0).argmax(1)
    y, people = test.label.to_numpy(), test.person.to_numpy()
    out = {'test_people': int(test.person.nunique())}
    for a, b in (('noisy', 'corrected'), ('noisy', 'clean'), ('corrected', 'clean')):
        s = paired_bootstrap(y, preds[a], preds[b], people)
        out[f'{a}_macro_f1'], out[f'{b}_macro_f1'] = round(s['macro_f1_a'], 3), round(s['macro_f1_b'], 3)
        out[f'{b}_minus_{a}'] = [round(s['difference'], 3), [round(v, 3) for v in s['ci95']]]
    return out


def run_seed(seed: int, people: int, rate: float, folds: int, work: Path, recipe: dict, test_people: int = 0,
             data: Path | None = None, test_data: Path | None = None) -> dict:
    from mask_lab.demo_data import make_demo_data
    from mask_lab.experiments import cv
    from mask_lab.label_issues import label_issues, cv_table, suggested_corrections
    base = work / f'people{people}_seed{seed}'
    demo = base / 'demo'
    if not (demo / 'train' / 'train.csv').exists():
        import shutil; shutil.rmtree(demo, ignore_errors=True)
        if data: sample_folder(data, demo, people, seed)
        else: make_demo_data(demo, people=people, seed=seed, eval_people=0, size=PHOTO_SIZE)
    planted = plant_errors(demo, rate, seed)
    planted.to_csv(base / 'planted.csv', index=False)
    t0 = time.time()
    res = cv({**recipe, 'seed': seed, 'corrections': str(base / 'planted.csv')}, folds=folds, out=base, name='cv', data=str(demo), verbose=False)
    table = cv_table(base / 'cv')
    issues = label_issues(base / 'cv', table)
    out = {'seed': seed, 'people': people, 'photos': people * 7, 'cv_seconds': round(time.time() - t0),
           'oof_macro_f1': round(res['scores']['macro_f1'], 3),
           'oof_head_f1': {h: round(s['macro_f1'], 3) for h, s in res['scores']['heads'].items()},
           **scores(issues, planted_keys(planted, demo))}
    if test_people:
        suggested = suggested_corrections(issues, table)
        accepted(planted, suggested).to_csv(base / 'accepted.csv', index=False)
        out['suggested'] = len(suggested)
        out['retrain'] = retrain(base, demo, seed, folds, recipe, test_people, test_data)
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--people', type=int, default=80, help='demo people per seed (7 photos each)')
    p.add_argument('--rate', type=float, default=0.05, help='share of each kind of label made wrong')
    p.add_argument('--folds', type=int, default=3)
    p.add_argument('--epochs', type=int, default=RECIPE['epochs'])
    p.add_argument('--batch-size', type=int, default=RECIPE['batch_size'])
    p.add_argument('--model', default=RECIPE['model'])
    p.add_argument('--size', type=int, nargs=2, default=RECIPE['size'], metavar=('H', 'W'))
    p.add_argument('--data', type=Path, help='a competition-format folder to sample --people people from, instead of demo people')
    p.add_argument('--test-data', type=Path, help='a competition-format folder to score the --retrain models on, instead of fresh demo people')
    p.add_argument('--work', type=Path, default=CACHE / 'bench_label_issues', help='folder for the demo data and CV folders (kept)')
    p.add_argument('--retrain', action='store_true', help='also train on the noisy, corrected and clean labels and score them on fresh people')
    p.add_argument('--test-people', type=int, default=40, help='fresh demo people the --retrain models are scored on')
    p.add_argument('--smoke', action='store_true', help='seconds: 20 people (10 to test), 2 folds, one epoch at 32x32, one seed, in a new temporary folder')
    a = p.parse_args(argv)
    recipe = {**RECIPE, 'epochs': a.epochs, 'batch_size': a.batch_size, 'model': a.model, 'size': list(a.size)}
    if a.smoke:
        import tempfile
        a.seeds, a.people, a.folds, a.work, a.test_people = [0], 20, 2, Path(tempfile.mkdtemp()), 10
        recipe.update(epochs=1, size=[32, 32], crop='none')
    load0 = os.getloadavg()
    seeds = [run_seed(s, a.people, a.rate, a.folds, a.work, recipe, a.test_people if a.retrain else 0, a.data, a.test_data) for s in a.seeds]
    out = {'command': ' '.join(['python', 'bench/bench_label_issues.py', *(sys.argv[1:] if argv is None else argv)]),
           'recipe': recipe, 'folds': a.folds, 'rate': a.rate, 'seeds': seeds,
           'target_precision_at_k_ge_0.8_every_seed': all(s['all_precision_at_k'] >= 0.8 for s in seeds),
           'loadavg_before_after': [round(v, 2) for v in (*load0, *os.getloadavg())], 'cpu_count': os.cpu_count()}
    print(json.dumps(out, indent=1))
    return out


if __name__ == '__main__':
    os.environ.pop('IN_TEST', None)
    main()
