"""What does the training augmentation cost per batch, and which of its steps costs what? Prints one JSON object.

    python bench/bench_augment.py                          # 128x96 and 160x160, batches of 64, one torch thread
    python bench/bench_augment.py --sizes 160x160 --threads 2 --repeats 50
    python bench/bench_augment.py --smoke                  # seconds: tiny batches (run by the tests)

On one cached uint8 batch (random pixels, smoothed: the cost does not depend on the content), each case is timed as
milliseconds per batch, the median of `--repeats` calls, the cases taking turns so that a change in the machine's
load falls on all alike:
- `per_image`: the per-image torchvision v2 pipeline of `train_transform(pre, 'strong')`, one image at a time, then
  stacked (what the loaders did before batching);
- `strong`, `light`: `BatchTransform` with the training default and the lighter augmentation;
- `none`: the evaluation path, uint8 to normalised float (what loading costs without augmenting);
- `strong_without_<step>`: `strong` with one step turned off in the same drawn parameters (`jpeg`, `blur`, `erase`,
  `colour`: saturation, hue, gain and greyscale, which make the colour matrix non-diagonal). `step_ms` is the
  difference from `strong`: that step's share of the batch; `geometry_and_normalise_ms` is what `strong` costs
  without all four (flip, rotation, scale and shift, brightness and contrast, clipping, normalisation).
"""
from __future__ import annotations
import argparse, json, os, statistics, sys, time


def bench(size=(128, 96), batch_size=64, repeats=20, seed=0) -> dict:
    import torch
    import torch.nn.functional as F
    from mask_lab.images import Preprocess
    from mask_lab.augment import BatchTransform, AUGMENT_SPECS, train_transform
    pre = Preprocess(size=size)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (batch_size, 3, *size), generator=gen, dtype=torch.uint8)
    x = F.avg_pool2d(x.float(), 5, 1, 2).round().to(torch.uint8)   # smooth, like a photo: JPEG's cost depends on detail
    strong = BatchTransform(pre, 'strong', 'cpu')
    # each step turned off in the parameters themselves: every case of a round augments with the same draw
    off = {'jpeg': lambda p: {**p, 'jpeg': torch.zeros_like(p['jpeg'])}, 'blur': lambda p: {**p, 'blur': torch.zeros_like(p['blur'])},
           'erase': lambda p: {**p, 'erase': torch.zeros_like(p['erase'])},
           'colour': lambda p: {**p, 'saturation': torch.ones_like(p['saturation']), 'hue': torch.zeros_like(p['hue']),
                                'gain': torch.ones_like(p['gain']), 'grayscale': torch.zeros_like(p['grayscale'])}}
    def all_off(p):
        for f in off.values(): p = f(p)
        return p
    light, none = BatchTransform(pre, 'light', 'cpu'), BatchTransform(pre, None, 'cpu')
    per_image = train_transform(pre, 'strong')
    cases = {'strong': lambda p: strong(x, params=p), 'light': lambda p: light(x, gen), 'none': lambda p: none(x),
             **{f'strong_without_{k}': (lambda p, f=f: strong(x, params=f(p))) for k, f in off.items()},
             'strong_without_all_four': lambda p: strong(x, params=all_off(p)),
             'per_image': lambda p: torch.stack([per_image(im) for im in x])}
    times = {name: [] for name in cases}
    for f in cases.values(): f(strong.params(batch_size, gen))   # warm-up
    for _ in range(repeats):
        p = strong.params(batch_size, gen)
        for name, f in cases.items():
            t = time.perf_counter(); f(p); times[name].append(time.perf_counter() - t)
    ms = {name: round(statistics.median(v) * 1000, 3) for name, v in times.items()}
    return {'size': list(size), 'batch_size': batch_size, 'repeats': repeats, 'ms_per_batch': ms,
            'batched_strong_vs_per_image': round(ms['per_image'] / ms['strong'], 2),
            'step_ms': {k: round(ms['strong'] - ms[f'strong_without_{k}'], 3) for k in off},
            'geometry_and_normalise_ms': ms['strong_without_all_four'],
            'images_per_s': {name: round(batch_size / v * 1000, 1) for name, v in ms.items()}}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--sizes', nargs='+', default=['128x96', '160x160'], help='HxW')
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--repeats', type=int, default=20)
    p.add_argument('--threads', type=int, default=1, help='torch threads (a loader with 0 workers augments in the training process)')
    p.add_argument('--smoke', action='store_true', help='seconds: batches of 4 at 32x24, 2 repeats')
    a = p.parse_args(argv)
    if a.smoke: a.sizes, a.batch_size, a.repeats = ['32x24'], 4, 2
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(a.threads)
    load0 = os.getloadavg()
    try: results = [bench(tuple(int(v) for v in s.split('x')), a.batch_size, a.repeats) for s in a.sizes]
    finally: torch.set_num_threads(threads)
    out = {'command': ' '.join(['python', 'bench/bench_augment.py', *(sys.argv[1:] if argv is None else argv)]),
           'torch_threads': a.threads, 'cpu_count': os.cpu_count(), 'torch': torch.__version__,
           'loadavg_before_after': [round(v, 2) for v in (*load0, *os.getloadavg())], 'results': results}
    print(json.dumps(out, indent=1))
    return out


if __name__ == '__main__':
    main()
