"""Exact copies and near duplicates within and across the lab's photo sources, and the cost of hashing. Prints one JSON object; run by hand.

    nice -n 10 python bench/bench_dedup.py --source utkface=PATH/utkface/images --source aaf=PATH/aaf/images \\
        --source real_masks=PATH/real_masks/images
    python bench/bench_dedup.py --smoke          # demo photos with planted copies, in seconds

Every photo (.jpg, .jpeg, .png, in sub-folders too) of each source is hashed by `mask_lab.dedup.photo_hashes`: the
content hash (SHA-256 of the bytes) and the perceptual hash (phash of R, G and B, 192 bits). The hashes are cached
under `--cache` (default `~/.cache/mask_lab/images`, so `~/.cache/mask_lab/hashes`), outside the repository: the
sources' licences forbid committing anything derived from them. The first run measures the cost of hashing a photo,
a second run the cost of reading it back (`cold`/`warm` below are this run's; run twice to see both).

For each source, and for each pair of sources: `exact_groups` (sets of 2+ files with the same bytes), `exact_extra`
(the files beyond the first of each set: what keeping each photo once removes) and `near_pairs` (pairs of files with
different bytes whose perceptual hashes are at most `--max-distance` bits apart, `mask_lab.dedup.NEAR_DISTANCE` by
default), `near_photos` (files in such a pair), and `near_by_distance` (the near pairs at each distance). The pairs
themselves are written to `--pairs` (default `~/.cache/mask_lab/bench_dedup/pairs.csv`) for a look.

`--probe NAME` asks what a leaky split would have reported on source NAME, whose file names carry UTKFace's labels
(`<age>_<gender>_...`; ages 18 and over, class = gender x age group at 30 and 60, 6 classes): a nearest-neighbour
probe (each validation photo takes the class of the training photo with the closest perceptual hash) scored by
out-of-fold macro F1 over 5 folds (`StratifiedGroupKFold`, seeds 0, 1, 2), once with every photo its own group (the
leaky split: a copy can sit on the other side) and once with near duplicates joined (`mask_lab.dedup.fold_groups`).
"""
from __future__ import annotations
import argparse, json, os, sys, tempfile, time
from pathlib import Path

import numpy as np
import pandas as pd

CACHE = Path(os.environ.get('XDG_CACHE_HOME', Path.home() / '.cache')) / 'mask_lab'
EXTS = ('.jpg', '.jpeg', '.png')


def source_photos(folder: Path) -> list[str]:
    "Every photo file under `folder`, sorted."
    return sorted(str(p) for p in Path(folder).rglob('*') if p.suffix.lower() in EXTS and p.is_file())


def smoke_sources(tmp: Path) -> dict:
    "Two small demo sources: one with a copy of one of its photos and a re-saved copy of another, one sharing a photo with the first."
    import shutil
    from PIL import Image
    from mask_lab.demo_data import make_demo_data
    a = make_demo_data(tmp / 'a', people=4, eval_people=0, seed=0) / 'train' / 'images'
    b = make_demo_data(tmp / 'b', people=3, eval_people=0, seed=1) / 'train' / 'images'
    photos = source_photos(a)
    shutil.copy(photos[0], a / 'copy.jpg')                          # an exact copy within a
    Image.open(photos[1]).save(a / 'resaved.jpg', quality=60)     # a near duplicate within a
    shutil.copy(photos[2], b / 'shared.jpg')                        # an exact copy across a and b
    c = tmp / 'c'; c.mkdir()                                        # UTKFace-style names for the probe
    rng = np.random.default_rng(0)
    for k, photo in enumerate(photos[:20]):
        shutil.copy(photo, c / f'{rng.integers(18, 80)}_{rng.integers(0, 2)}_0_{k}.jpg')
    shutil.copy(photos[0], c / '40_1_0_copy.jpg')                   # a copy with another label, as UTKFace has
    return {'a': a, 'b': b, 'c': c}


def utk_labels(paths) -> pd.DataFrame:
    "Age, gender and the 6-class label (gender x age group at 30 and 60) of the photos whose names parse as UTKFace's, aged 18+."
    rows = []
    for k, path in enumerate(paths):
        parts = Path(path).name.split('_')
        if len(parts) < 3 or not (parts[0].isdigit() and parts[1] in ('0', '1')) or int(parts[0]) < 18: continue
        age, gender = int(parts[0]), int(parts[1])
        rows.append((k, age, gender, gender * 3 + int(np.digitize(age, [30, 60]))))
    return pd.DataFrame(rows, columns=['row', 'age', 'gender', 'label'])


def leak_probe(hashes: pd.DataFrame, max_distance: int, seeds=(0, 1, 2), folds: int = 5) -> dict:
    "Out-of-fold macro F1 of a 1-nearest-neighbour probe on the perceptual hashes, the leaky split against the grouped one."
    import warnings
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedGroupKFold
    from mask_lab.dedup import fold_groups, hash_bits, near_pairs
    labels = utk_labels(hashes.path)
    rows = hashes.iloc[labels.row].reset_index(drop=True)
    y = labels.label.to_numpy()
    signs = hash_bits(rows.phash).astype(np.float32) * 2 - 1
    pairs = near_pairs(rows.phash, max_distance)
    splits = {'leaky': np.arange(len(rows)), 'grouped': fold_groups(rows, pairs)}
    has_copy = np.isin(np.arange(len(rows)), pairs[['a', 'b']].to_numpy())
    out = {'photos': len(rows), 'photos_with_a_near_duplicate': int(has_copy.sum()), 'classes': int(len(np.unique(y))), 'folds': folds}
    for name, groups in splits.items():
        f1, copy_acc = [], []
        for seed in seeds:
            pred = np.full(len(rows), -1)
            with warnings.catch_warnings():   # a small source's rarest class may have fewer photos than folds
                warnings.simplefilter('ignore', UserWarning)
                split = list(StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(signs, y, groups))
            for train, valid in split:
                pred[valid] = y[train][np.argmax(signs[valid] @ signs[train].T, axis=1)]   # the largest dot product: the closest hash
            f1.append(round(float(f1_score(y, pred, average='macro')), 4))
            copy_acc.append(round(float((pred[has_copy] == y[has_copy]).mean()), 4) if has_copy.any() else None)
        out[name] = {'macro_f1_by_seed': f1, 'macro_f1_mean': round(float(np.mean(f1)), 4), 'accuracy_on_photos_with_a_copy_by_seed': copy_acc}
    out['leaky_minus_grouped_by_seed'] = [round(a - b, 4) for a, b in zip(out['leaky']['macro_f1_by_seed'], out['grouped']['macro_f1_by_seed'])]
    return out


def count(hashes: pd.DataFrame, pairs: pd.DataFrame, source: np.ndarray, x: str, y: str, max_distance: int) -> dict:
    "Exact groups and near pairs among the photos of sources `x` and `y` (the same name: within one source; two: across them)."
    if x == y:
        rows = hashes[source == x]
        sizes = rows.groupby('sha256').size()
        exact = {'exact_groups': int((sizes > 1).sum()), 'exact_extra': int((sizes - 1).sum())}
        keep = (source[pairs.a] == x) & (source[pairs.b] == x)
    else:
        sha_x, sha_y = set(hashes.sha256[source == x]), set(hashes.sha256[source == y])
        shared = sha_x & sha_y
        exact = {'exact_groups': len(shared), 'exact_extra': int(hashes.sha256[source == y].isin(shared).sum())}
        keep = ((source[pairs.a] == x) & (source[pairs.b] == y)) | ((source[pairs.a] == y) & (source[pairs.b] == x))
    near = pairs[keep & ~pairs.exact]
    return {**exact, 'near_pairs': len(near), 'near_photos': int(len(np.unique(near[['a', 'b']].to_numpy()))),
            'near_by_distance': {int(d): int(n) for d, n in near.distance.value_counts().sort_index().items()}}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--source', action='append', default=[], metavar='NAME=FOLDER', help='a photo source (repeat for several)')
    p.add_argument('--max-distance', type=int, default=None, help='near-duplicate threshold in bits (default: NEAR_DISTANCE)')
    p.add_argument('--cache', type=Path, default=None, help='image cache folder; the hashes go beside it (default ~/.cache/mask_lab/images)')
    p.add_argument('--pairs', type=Path, default=CACHE / 'bench_dedup' / 'pairs.csv', help='where to write the pairs found')
    p.add_argument('--probe', default=None, metavar='NAME', help='the leaky-split probe on source NAME (UTKFace file names)')
    p.add_argument('--smoke', action='store_true', help='demo sources with planted copies, in a temporary folder')
    args = p.parse_args(argv)
    from mask_lab.dedup import NEAR_DISTANCE, PHASH_BITS, near_pairs, photo_hashes
    max_distance = NEAR_DISTANCE if args.max_distance is None else args.max_distance
    tmp = Path(tempfile.mkdtemp())
    if args.smoke: sources, cache, args.pairs, args.probe = smoke_sources(tmp), tmp / 'cache' / 'images', tmp / 'pairs.csv', 'c'
    else:
        sources, cache = dict(s.split('=', 1) for s in args.source), args.cache
        if not sources: p.error('give at least one --source NAME=FOLDER, or --smoke')
    tables, timing = [], {}
    for name, folder in sources.items():
        paths = source_photos(Path(folder))
        start = time.perf_counter(); h = photo_hashes(paths, cache); first = time.perf_counter() - start
        start = time.perf_counter(); photo_hashes(paths, cache); again = time.perf_counter() - start
        timing[name] = {'photos': len(paths), 'ms_per_photo_this_run': round(1000 * first / max(1, len(paths)), 3),
                        'ms_per_photo_from_cache': round(1000 * again / max(1, len(paths)), 3)}
        tables.append(h.assign(source=name))
    hashes = pd.concat(tables, ignore_index=True)
    start = time.perf_counter()
    pairs = near_pairs(hashes.phash, max_distance)
    search = time.perf_counter() - start
    pairs['exact'] = hashes.sha256.to_numpy()[pairs.a] == hashes.sha256.to_numpy()[pairs.b]
    source = hashes.source.to_numpy()
    names = list(sources)
    result = {'bench': 'dedup', 'max_distance': max_distance, 'hash_bits': PHASH_BITS, 'sources': timing,
              'pair_search_seconds': round(search, 2), 'within': {n: count(hashes, pairs, source, n, n, max_distance) for n in names},
              'across': {f'{x}+{y}': count(hashes, pairs, source, x, y, max_distance) for i, x in enumerate(names) for y in names[i + 1:]}}
    if args.probe: result['leak_probe'] = {'source': args.probe, **leak_probe(hashes[source == args.probe].reset_index(drop=True), max_distance)}
    args.pairs.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({'path_a': hashes.path.to_numpy()[pairs.a], 'path_b': hashes.path.to_numpy()[pairs.b], 'source_a': source[pairs.a],
                  'source_b': source[pairs.b], 'distance': pairs.distance, 'exact': pairs.exact}).to_csv(args.pairs, index=False)
    print(json.dumps(result, indent=1))
    return result


if __name__ == '__main__':
    main(sys.argv[1:])
