"""Gather what travels with the project to a GPU machine for `bench/device_check.py`: under 64 MiB, kept out of git.

    python bench/prepare_device_check.py                 # into device_check_travel/ (git-ignored)
    python bench/prepare_device_check.py --subset-mib 20 # a smaller real-photo subset

The GPU machine has Python 3.12 with torch, torchvision, timm, scikit-learn, pandas, onnxruntime and TensorBoard, and
no package registry. Into `device_check_travel/` go:
- `wheels/`: what training and the check import that such a machine lacks, downloaded for CPython 3.12 on
  manylinux x86-64 without their dependencies: fastcore (the version installed here), the packaged ImageNet weights
  of MobileNetV2 (`mask_lab.model.PACKAGE_WEIGHTS`), then, while the budget allows, ONNX export's onnx, ml_dtypes,
  onnx_ir and onnxscript;
- `real_photos/`: a subset of the rendered UTKFace training photos of `bench_real_photos.py`'s cache
  (`~/.cache/mask_lab/real_photos/utk/v2/train`, or `--cache`), whole people drawn evenly across gender x age group
  with seed 0 until the rest of the budget (at most `--subset-mib`, 40 MiB) is used, in the competition layout with its
  `faces.csv` (so the face crop needs no detector). UTKFace is for non-commercial research: the subset is for the
  check only and must not be published or committed.
Prints one JSON object: each thing gathered with its size, and the total.
"""
from __future__ import annotations
import argparse, importlib.metadata, json, os, shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path: sys.path.insert(0, str(ROOT))
MIB = 2**20
CACHE = Path(os.environ.get('XDG_CACHE_HOME', Path.home() / '.cache')) / 'mask_lab' / 'real_photos'
OPTIONAL = ('onnx', 'ml_dtypes', 'onnx_ir', 'onnxscript')   # ONNX export (the check's `onnx` part), in order of need


def _pinned(dist: str) -> str:
    "`dist==VERSION` as installed here, so both machines run the same code; `dist` alone when it is not installed."
    try: return f'{dist}=={importlib.metadata.version(dist)}'
    except importlib.metadata.PackageNotFoundError: return dist


def download(spec: str, folder: Path) -> Path:
    "One wheel for CPython 3.12 on manylinux x86-64, without dependencies, from the registry pip is configured with (the newest when the version installed here has none)."
    try: return _download(spec, folder)
    except SystemExit:
        if '==' not in spec: raise
        return _download(spec.split('==')[0], folder)


def _download(spec: str, folder: Path) -> Path:
    before = set(folder.glob('*.whl'))
    r = subprocess.run([sys.executable, '-m', 'pip', 'download', '--only-binary=:all:', '--python-version', '3.12',
                        '--platform', 'manylinux2014_x86_64', '--no-deps', '--disable-pip-version-check', '-d', str(folder), spec],
                       capture_output=True, text=True)
    if r.returncode: raise SystemExit(f'prepare_device_check: pip download {spec} failed: {(r.stdout + r.stderr).strip().splitlines()[-1:]}')
    new = sorted(set(folder.glob('*.whl')) - before)
    name = spec.split('==')[0].replace('-', '_').lower()
    return (new or [w for w in folder.glob('*.whl') if w.name.lower().startswith(name)])[0]


def real_subset(cache: Path, out: Path, budget: int, seed: int = 0) -> dict:
    "Whole people of `cache`'s competition-layout `train/` copied to `out/train/`, drawn evenly across gender x age group, within `budget` bytes."
    import numpy as np, pandas as pd
    from mask_lab.core import age_group
    src = cache / 'train'
    people = pd.read_csv(src / 'train.csv', dtype=str)
    people['group'] = people.gender + '_' + pd.Series(age_group(people.age.astype(int)), index=people.index).astype(str)
    rng = np.random.default_rng(seed)
    people = people.iloc[rng.permutation(len(people))]
    people['rank'] = people.groupby('group').cumcount()
    people = people.sort_values(['rank', 'group'], kind='stable')   # one of each group in turn: even across the groups
    chosen, used = [], 0
    for row in people.itertuples():
        size = sum(f.stat().st_size for f in (src / 'images' / row.path).iterdir())
        if used + size > budget: break
        chosen.append(row); used += size
    if out.exists(): shutil.rmtree(out)
    (out / 'train' / 'images').mkdir(parents=True)
    for row in chosen: shutil.copytree(src / 'images' / row.path, out / 'train' / 'images' / row.path)
    table = pd.DataFrame(chosen)[people.columns.drop(['group', 'rank'])]
    table.to_csv(out / 'train' / 'train.csv', index=False)
    faces = pd.read_csv(src / 'faces.csv')
    faces[faces.file.str.split('/').str[0].isin(set(table.path))].to_csv(out / 'train' / 'faces.csv', index=False)
    groups = pd.DataFrame(chosen).group.value_counts().sort_index().to_dict()
    return {'people': len(chosen), 'photos': sum(1 for _ in (out / 'train' / 'images').rglob('*.jpg')), 'groups': groups,
            'source': 'rendered UTKFace training people (bench_real_photos cache, utk/v2/train)'}


def folder_bytes(path: Path) -> int: return sum(f.stat().st_size for f in path.rglob('*') if f.is_file())


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', type=Path, default=ROOT / 'device_check_travel')
    p.add_argument('--cache', type=Path, default=CACHE / 'utk' / 'v2' / 'train', help='a competition-layout folder (holding train/) of real photos')
    p.add_argument('--total-mib', type=float, default=60, help='file bytes in all (default 60: 64 MiB less room for the archive headers of ~3,000 files)')
    p.add_argument('--subset-mib', type=float, default=40)
    args = p.parse_args(argv)
    from mask_lab.model import PACKAGE_WEIGHTS
    wheels = args.out / 'wheels'
    if wheels.exists(): shutil.rmtree(wheels)
    wheels.mkdir(parents=True)
    weights = PACKAGE_WEIGHTS['mobilenetv2_100'].pip.split()[-1]   # '--no-deps NAME==VERSION'
    gathered = [download(_pinned('fastcore'), wheels), download(weights, wheels)]
    budget = int(args.total_mib * MIB)
    optional = []
    for dist in OPTIONAL:
        w = download(_pinned(dist), wheels)
        if folder_bytes(wheels) > budget - 8 * MIB:   # keep room for a useful subset
            w.unlink(); optional.append(f'{dist} left out (budget)'); break
        gathered.append(w)
    if not args.cache.joinpath('train', 'train.csv').exists():
        raise SystemExit(f'prepare_device_check: {args.cache}: no train/train.csv (build it with bench/bench_real_photos.py --build-only)')
    subset_budget = min(int(args.subset_mib * MIB), budget - folder_bytes(wheels) - MIB // 2)   # half a MiB for the tables
    subset = real_subset(args.cache, args.out / 'real_photos', subset_budget)
    result = {'folder': str(args.out), 'wheels': {w.name: round(w.stat().st_size / MIB, 2) for w in gathered},
              'left_out': optional, 'wheels_mib': round(folder_bytes(wheels) / MIB, 2),
              'real_photos': {**subset, 'mib': round(folder_bytes(args.out / 'real_photos') / MIB, 2)},
              'total_mib': round(folder_bytes(args.out) / MIB, 2), 'limit_mib': args.total_mib}
    if result['total_mib'] > args.total_mib: raise SystemExit(f'prepare_device_check: {result["total_mib"]} MiB gathered, over {args.total_mib}')
    (args.out / 'manifest.json').write_text(json.dumps(result, indent=1) + '\n')
    print(json.dumps(result))
    return result


if __name__ == '__main__':
    main()
