"""Inference throughput on demo images, printed as JSON.

Compares, in one process and on the same images and model:
- `per_image`: the competition baseline's way, one image at a time through the model (decode, transform, forward,
  the 18 class probabilities whatever the head layout), with plain (contiguous) weights under `torch.no_grad`;
- `batched`: `mask_lab.inference.predict_probs` (loader workers, batches of 64, uint8 batches normalised at once,
  `torch.inference_mode`, channels-last), also with `num_workers=0`, with batches of 256, with contiguous (NCHW)
  weights, and with flip TTA;
- `onnx`: the run exported with `export_onnx` and run by ONNX Runtime on the CPU, end to end (same loader) and
  model only (pre-decoded batches), against PyTorch doing the same.
Rounds are interleaved and each figure is the median over rounds; ratios are medians of per-round ratios, so
load from other processes affects both sides of a ratio alike.

    python bench/bench_inference.py [--people 45] [--models mobilenetv3_small_050:64x48 resnet10t:128x96]
                                    [--rounds 3] [--threads N] [--workers N]
    python bench/bench_inference.py --smoke    # seconds: tiny data and model, one round (run by the tests)
    python bench/bench_inference.py --people 20 --models mobilenetv2_100:160x160 dlib_resnet29:160x160 --rounds 2 --threads 1 --workers 0
                                               # the face trunk against MobileNetV2 (`vs_first_model`)

The target: `speedup.batched_vs_per_image` >= 3 for every model (`targets` in the output).
`vs_first_model`: each model's images per second over those of the first model in `--models`, per case.
"""
from __future__ import annotations
import argparse, copy, json, os, platform, statistics, sys, tempfile, time, warnings
from pathlib import Path

import numpy as np
import torch


def timed(fn):
    t = time.perf_counter(); out = fn(); return out, time.perf_counter() - t


def per_image_probs(model, df, pre):
    "The baseline loop: each image decoded, transformed and run through the model on its own."
    from mask_lab.augment import eval_transform
    from mask_lab.images import load_image
    from mask_lab.inference import ClassProbs
    tf, out = eval_transform(pre), []
    # a plain model, as the baseline had (a copy: `.to(memory_format=...)` changes a module in place);
    # ClassProbs: the 18 class probabilities whatever the head layout (a three-head model has 8 raw outputs)
    net = ClassProbs(copy.deepcopy(model).to(memory_format=torch.contiguous_format)).eval()
    with torch.no_grad():
        for path in df.path:
            x = tf(load_image(path, pre.size)).unsqueeze(0)
            out.append(net(x)[0].numpy())
    return np.stack(out)


def bench_model(name, size, df, demo, tmp, rounds, workers, threads, dynamo=True):
    from mask_lab.train import train
    from mask_lab.inference import load_run, predict_probs, export_onnx, OnnxPredictor, ClassProbs
    from mask_lab.images import Preprocess
    from mask_lab.dataset import make_loader
    run = tmp / f'{name}_{size[0]}x{size[1]}'
    train(demo, out=tmp, model=name, epochs=1, size=size, name=run.name, verbose=False, crop='none', live=False)
    model, cfg = load_run(run, device='cpu')
    pre = Preprocess.from_dict(cfg['preprocess'])
    onnx_path, export_s = timed(lambda: export_onnx(run, tmp / f'{run.name}.onnx', dynamo=dynamo))
    ort = OnnxPredictor(onnx_path, threads=threads)   # ONNX Runtime gets as many threads as torch
    batches = [xb for xb, _ in make_loader(df[['path']], pre, batch_size=64, num_workers=0, device='cpu')]
    net = ClassProbs(model.to(memory_format=torch.channels_last)).eval()

    def torch_model_only():   # as predict_probs runs it: channels-last
        with torch.inference_mode():
            return np.concatenate([net(xb.contiguous(memory_format=torch.channels_last)).numpy() for xb in batches])
    def ort_model_only(): return np.concatenate([ort(xb.numpy()) for xb in batches])

    cases = {
        'per_image': lambda: per_image_probs(model, df, pre),
        'batched': lambda: predict_probs(model, df, pre, batch_size=64, num_workers=workers),
        'batched_workers0': lambda: predict_probs(model, df, pre, batch_size=64, num_workers=0),
        'batched_b256': lambda: predict_probs(model, df, pre, batch_size=256, num_workers=workers),
        'batched_contiguous': lambda: predict_probs(model, df, pre, batch_size=64, num_workers=workers, channels_last=False),
        'batched_tta_flip': lambda: predict_probs(model, df, pre, batch_size=64, num_workers=workers, tta='flip'),
        'onnx': lambda: ort.predict_probs(df, batch_size=64, num_workers=workers),
        'model_only_torch': torch_model_only,
        'model_only_onnx': ort_model_only,
    }
    for f in (cases['model_only_torch'], cases['model_only_onnx']): f()          # warm-up
    secs, probs = {k: [] for k in cases}, {}
    for _ in range(rounds):
        for k, f in cases.items():
            probs[k], s = timed(f)
            secs[k].append(s)
    n = len(df)
    def ratio(a, b): return round(statistics.median(sb / sa for sa, sb in zip(secs[a], secs[b])), 2)
    return {
        'model': name, 'size': list(size), 'images': n, 'onnx_export_s': round(export_s, 1), 'exporter': ort.meta['mask_lab.exporter'],
        'images_per_s': {k: round(n / statistics.median(v), 1) for k, v in secs.items()},
        'speedup': {'batched_vs_per_image': ratio('batched', 'per_image'),
                    'batched_workers0_vs_per_image': ratio('batched_workers0', 'per_image'),
                    'batched_b256_vs_per_image': ratio('batched_b256', 'per_image'),
                    'channels_last_vs_contiguous_cpu': ratio('batched', 'batched_contiguous'),
                    'tta_flip_vs_plain': ratio('batched_tta_flip', 'batched'),
                    'onnx_vs_torch_end_to_end': ratio('onnx', 'batched'),
                    'onnx_vs_torch_model_only': ratio('model_only_onnx', 'model_only_torch')},
        'max_abs_diff': {'batched_vs_per_image': float(np.abs(probs['batched'] - probs['per_image']).max()),
                         'onnx_vs_torch': float(np.abs(probs['onnx'] - probs['batched']).max())},
        'target_batched_ge_3x_per_image': ratio('batched', 'per_image') >= 3,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--people', type=int, default=45, help='demo people (7 images each)')
    ap.add_argument('--models', nargs='+', default=['mobilenetv3_small_050:64x48', 'resnet10t:128x96'], help='NAME:HxW')
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--threads', type=int, default=None, help='torch intra-op threads (default: torch default)')
    ap.add_argument('--workers', type=int, default=None, help='loader workers for the batched cases (default: mask_lab default)')
    ap.add_argument('--smoke', action='store_true', help='seconds: 5 people, one tiny model at 32x24, one round, TorchScript ONNX export')
    args = ap.parse_args(argv)
    if args.smoke: args.people, args.models, args.rounds = 5, ['mobilenetv3_small_050:32x24'], 1
    if args.threads: torch.set_num_threads(args.threads)
    warnings.simplefilter('ignore')
    from mask_lab.demo_data import make_demo_data
    from mask_lab.data import load_train
    from mask_lab.dataset import default_num_workers
    import onnxruntime
    workers = default_num_workers() if args.workers is None else args.workers
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        demo = make_demo_data(tmp / 'demo', people=args.people, seed=0)
        df, _ = load_train(demo)
        results = []
        for spec in args.models:
            name, hw = spec.split(':')
            results.append(bench_model(name, tuple(int(v) for v in hw.split('x')), df, demo, tmp, args.rounds, workers,
                                       torch.get_num_threads(), dynamo=not args.smoke))
    out = {'command': ' '.join(['python', 'bench/bench_inference.py', *(sys.argv[1:] if argv is None else argv)]), 'torch': torch.__version__,
                      'onnxruntime': onnxruntime.__version__, 'platform': platform.platform(), 'cpu_count': os.cpu_count(),
                      'torch_threads': torch.get_num_threads(), 'loader_workers': workers,
                      'loadavg_before_after': [round(load0[0], 2), round(os.getloadavg()[0], 2)],
                      'rounds': args.rounds, 'results': results,
                      'vs_first_model': {f"{r['model']}:{r['size'][0]}x{r['size'][1]}": {k: round(v / results[0]['images_per_s'][k], 3)
                                         for k, v in r['images_per_s'].items()} for r in results}}
    print(json.dumps(out, indent=1))
    return out


if __name__ == '__main__':
    main()
