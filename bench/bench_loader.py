"""Training-loader throughput and memory with and without an image cache, printed as JSON.

On demo data (`--people` persons x 7 photos of 384x512, generated into a temporary folder) or on `--data DIR`
(competition layout), each case iterates a training loader for `--epochs` epochs at the training size (`--size`,
128x96 by default), with the augmentation `--augment` ('strong', the training default, 'light', the
`make_loader` default, or 'none': shuffled loading alone, to separate the cost of loading from that of augmenting),
batches of 64, shuffled:
- `baseline`: the official baseline's way: a minimal Dataset that fully decodes each JPEG with PIL in
  `__getitem__`, then resizes and augments image by image (the per-image reference `train_transform`), every epoch;
- `none`, `ram`, `disk`: `mask_lab.dataset.make_loader(..., cache=MODE)`: uint8 batches from the dataset's
  `__getitems__` (one gather from a cache), augmented per batch (`BatchTransform`); `setup_s` is the cache build
  (a fresh cache folder for `disk`, so the build is measured), `reopen_s` the start of a later run that
  finds the disk cache;
- `limit`: no decode and no augmentation at all: the final, normalised float tensors already in memory, batched
  by the same DataLoader (shuffle, collate). The best any loader can do. `ram` from its second epoch is the other
  natural reference: pre-decoded uint8 tensors plus augmentation.
Each case runs in its own subprocess, which reports its peak resident memory (`ru_maxrss` of itself, and of
its loader workers when `--workers` > 0). Ratios compare images/s: `epoch2_vs_baseline` (cached loading should
be >= 8x), `epoch2_vs_limit` (should be >= 0.5, i.e. within 2x), and `first_epoch_incl_setup_vs_baseline`.

    python bench/bench_loader.py [--people 430 | --data DIR] [--size 128 96] [--augment strong] [--workers 0 2]
                                 [--epochs 2] [--threads 1] [--cases ...]
    python bench/bench_loader.py --smoke    # seconds: 3 people at 32x24, cases in this process (run by the tests)

The output records the load averages (`os.getloadavg`) before and after: on a shared machine the absolute
figures move with the load, the ratios (all cases of one run) less.
"""
from __future__ import annotations
import argparse, json, os, platform, resource, subprocess, sys, tempfile, time
from pathlib import Path

CASES = ('baseline', 'none', 'ram', 'disk', 'limit')


def child(args) -> dict:
    "Run one case in this process; its figures."
    import torch
    from PIL import Image
    from torch.utils.data import DataLoader, Dataset, TensorDataset
    from mask_lab.data import load_train
    from mask_lab.images import Preprocess
    from mask_lab.dataset import FaceDataset, make_loader, ram_cache
    from mask_lab.augment import BatchTransform, train_transform, eval_transform
    df, _ = load_train(args.data)
    workers = args.workers[0] if isinstance(args.workers, list) else args.workers
    torch.set_num_threads(args.threads)   # loader workers use 1 thread each anyway
    pre = Preprocess(size=args.size)
    augment = None if args.augment == 'none' else args.augment   # none: the loaders only normalise
    mb = lambda who: round(resource.getrusage(who).ru_maxrss / 1024, 1)   # KiB on Linux
    rss_start = mb(resource.RUSAGE_SELF)   # interpreter, torch, pandas and the image table: the same in every case
    gen = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    reopen_s = None
    if args.case == 'baseline':
        class Baseline(Dataset):
            def __init__(self, paths, labels, tf): self.paths, self.labels, self.tf = paths, labels, tf
            def __len__(self): return len(self.paths)
            def __getitem__(self, i):
                return self.tf(Image.open(self.paths[i]).convert('RGB')), int(self.labels[i])   # full 384x512 decode
        tf = eval_transform(pre) if augment is None else train_transform(pre, augment)
        dl = DataLoader(Baseline(df.path.tolist(), df.label.to_numpy(), tf), batch_size=args.batch_size,
                        shuffle=True, drop_last=True, num_workers=workers, generator=gen)
    elif args.case == 'limit':
        imgs = ram_cache(df.path.tolist(), pre.size)
        tf = eval_transform(pre)
        x = torch.stack([tf(im) for im in imgs]); del imgs
        dl = DataLoader(TensorDataset(x, torch.as_tensor(df.label.to_numpy())), batch_size=args.batch_size,
                        shuffle=True, drop_last=True, num_workers=workers, generator=gen)
    else:
        dl = make_loader(df, pre, train=True, batch_size=args.batch_size, num_workers=workers, cache=args.case,
                         cache_dir=args.cache_dir, augment=augment, device='cpu')
        if args.case == 'disk':
            t1 = time.perf_counter()
            FaceDataset(df, BatchTransform(pre, augment, 'cpu'), pre.size, cache='disk', cache_dir=args.cache_dir)
            reopen_s = time.perf_counter() - t1
    setup_s = time.perf_counter() - t0 - (reopen_s or 0)
    epoch_s, n = [], 0
    for _ in range(args.epochs):
        t = time.perf_counter(); n = 0
        for xb, yb in dl: n += len(xb)
        epoch_s.append(time.perf_counter() - t)
    return {'case': args.case, 'workers': workers, 'images_per_epoch': n, 'setup_s': round(setup_s, 2),
                      'reopen_s': None if reopen_s is None else round(reopen_s, 3),
                      'epoch_s': [round(s, 2) for s in epoch_s], 'images_per_s': [round(n / s, 1) for s in epoch_s],
            'maxrss_mb': mb(resource.RUSAGE_SELF), 'maxrss_before_setup_mb': rss_start, 'workers_maxrss_mb': mb(resource.RUSAGE_CHILDREN) if workers else None}


def main(argv=None) -> dict | None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--people', type=int, default=430, help='demo persons to generate (7 images each)')
    ap.add_argument('--data', type=Path, help='a dataset in the competition layout instead of demo data')
    ap.add_argument('--workers', type=int, nargs='+', default=[0, 2])
    ap.add_argument('--epochs', type=int, default=2)
    ap.add_argument('--batch-size', type=int, default=64)
    ap.add_argument('--size', type=int, nargs=2, default=[128, 96], help='training size, height width')
    ap.add_argument('--threads', type=int, default=1, help='torch threads in the loading process (tiny per-image ops thrash with more)')
    ap.add_argument('--cases', nargs='+', default=list(CASES), choices=CASES)
    ap.add_argument('--augment', default='strong', choices=('light', 'strong', 'none'),
                    help='training augmentation (strong: the training default; none: loading alone)')
    ap.add_argument('--smoke', action='store_true', help='seconds: 3 people at 32x24, batches of 8, 0 workers, in this process')
    ap.add_argument('--case', help=argparse.SUPPRESS)
    ap.add_argument('--cache-dir', help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.case: return print(json.dumps(child(args)))
    if args.smoke: args.people, args.size, args.batch_size, args.workers = 3, [32, 24], 8, [0]
    load0 = os.getloadavg()

    tmp = Path(tempfile.mkdtemp(prefix='bench_loader_'))
    data, gen_s = args.data, None
    if data is None:
        from mask_lab.demo_data import make_demo_data
        t = time.perf_counter()
        data = make_demo_data(tmp / 'demo', people=args.people, seed=0, eval_people=0)
        gen_s = round(time.perf_counter() - t, 1)
    runs, ratios = {}, {}
    for w in args.workers:
        key = f'workers={w}'
        runs[key] = {}
        for case in args.cases:
            cmd = ['--case', case, '--data', str(data), '--workers', str(w), '--epochs', str(args.epochs), '--augment', args.augment,
                   '--batch-size', str(args.batch_size), '--threads', str(args.threads), '--size', *map(str, args.size),
                   '--cache-dir', str(tmp / f'cache_{case}_{w}')]   # fresh per run: the disk build is measured
            if args.smoke: r = child(ap.parse_args(cmd))   # in this process: no peak-memory figures worth reading
            else:
                out = subprocess.run([sys.executable, __file__, *cmd], capture_output=True, text=True, env={**os.environ, 'TQDM_DISABLE': '1'})
                if out.returncode: sys.exit(f'{case} (workers={w}) failed:\n{out.stderr[-3000:]}')
                r = json.loads(out.stdout.strip().splitlines()[-1])
            runs[key][case] = {k: v for k, v in r.items() if k not in ('case', 'workers')}
            print(f'{key} {case}: {r["images_per_s"]} images/s, setup {r["setup_s"]} s, peak {r["maxrss_mb"]} MB', file=sys.stderr)
        ips = {c: r['images_per_s'] for c, r in runs[key].items()}
        first = {c: r['images_per_epoch'] / (r['setup_s'] + r['epoch_s'][0]) for c, r in runs[key].items()}
        ratios[key] = {}
        for c in ips:
            d = {}
            if 'baseline' in ips:
                d['epoch_vs_baseline'] = [round(a / b, 2) for a, b in zip(ips[c], ips['baseline'])]
                d['first_epoch_incl_setup_vs_baseline'] = round(first[c] / first['baseline'], 2)
            if 'limit' in ips: d['epoch_vs_limit'] = [round(a / b, 2) for a, b in zip(ips[c], ips['limit'])]
            ratios[key][c] = d
    targets = {}
    for key, rs in ratios.items():
        for c in ('ram', 'disk'):
            if c in rs and 'epoch_vs_baseline' in rs[c] and 'epoch_vs_limit' in rs[c] and args.epochs >= 2:
                targets[f'{key} {c}'] = {'epoch2_ge_8x_baseline': rs[c]['epoch_vs_baseline'][1] >= 8,
                                         'epoch2_within_2x_of_limit': rs[c]['epoch_vs_limit'][1] >= 0.5}
    import torch
    result = {'command': 'python bench/bench_loader.py ' + ' '.join(sys.argv[1:] if argv is None else argv), 'augment': args.augment,
                      'data': 'demo' if args.data is None else str(args.data), 'demo_generation_s': gen_s,
                      'images': runs[next(iter(runs))][args.cases[0]]['images_per_epoch'], 'size': args.size,
                      'batch_size': args.batch_size, 'epochs': args.epochs, 'cpu_count': os.cpu_count(),
                      'torch_threads': args.threads, 'python': platform.python_version(), 'torch': torch.__version__,
                      'loadavg_before_after': [round(v, 2) for v in (*load0, *os.getloadavg())],
                      'runs': runs, 'ratios': ratios, 'targets': targets}
    print(json.dumps(result, indent=1))
    import shutil; shutil.rmtree(tmp, ignore_errors=True)
    return result


if __name__ == '__main__':
    main()
