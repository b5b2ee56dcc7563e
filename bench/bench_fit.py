"""How much slower is the lab's full `fit` than a bare PyTorch loop over batches already in memory? Prints one JSON object.

    python bench/bench_fit.py                                         # mobilenetv2_100, 128x96 and 160x160, batch 64, 3,010 photos
    python bench/bench_fit.py --sizes 128x96 --repeats 5 --threads 2
    python bench/bench_fit.py --loader memory                         # the hooks alone: both sides read the same tensors
    python bench/bench_fit.py --smoke                                 # seconds: tiny data and model (run by the tests)

B is `Learner.fit` of the Learner that `mask_lab.train.train` builds (`build_learner`), with every default hook of a
run: the loss and optimizer hook, the cosine schedule, `JsonlLogger`, `TextLogger` (its screen output swallowed),
`Checkpoint` (best.pt and last.pt with the full training state, every epoch), `TensorBoardLogger`, the `ProgressBar`
(tqdm; it draws only on a terminal) and `LiveChart` in its headless fallback. With `--loader real` (the default) B
also reads its own loaders: the RAM image cache (what `--cache auto` picks for a real data set) and the default
augmentation ('strong'), batched on the CPU with 0 workers; so B pays for loading and augmenting, and the figure is
what they and the hooks cost together. Photos are used whole (`crop='none'`): finding faces is a once-per-data-set
cost, cached, and not part of a training step.

A is a hand-written loop over the same model (the same seed, initial weights, frozen stages and memory layout), the
same loss and optimizer, and the same number of steps, over batches that B's loader produced once before timing
(ready tensors in memory: no loading, no augmentation): forward, loss, backward, step, a `loss.item()` per batch,
and per epoch a validation pass with macro F1.

Pairs run A B B A A B ... so that drift in the machine's load falls on both alike; the figure is the median of the
per-pair ratios B/A minus one, in wall time and in this process's CPU time. Target: overhead <= 0.05.
"""
from __future__ import annotations
import argparse, contextlib, io, json, os, statistics, sys, tempfile, time
from pathlib import Path


class ReadyBatches(list):
    "Batches already in memory that still name their dataset, as a loader does for the hooks that report its size."
    def __init__(self, batches, dataset): super().__init__(batches); self.dataset = dataset


def bench(people=430, epochs=1, repeats=3, size=(128, 96), batch_size=64, model='mobilenetv2_100', threads=None,
          loader='real', demo=None) -> dict:
    import numpy as np, torch
    from sklearn.metrics import f1_score
    from mask_lab.demo_data import make_demo_data
    from mask_lab.data import add_person_folds, load_train
    from mask_lab.config import TrainConfig
    from mask_lab.train import build_learner
    from mask_lab.runs import new_run_dir

    if threads: torch.set_num_threads(threads)
    tmp = Path(tempfile.mkdtemp())
    demo = demo or make_demo_data(tmp / 'demo', people=people, seed=0)
    cfg = TrainConfig(data=str(demo), model=model, size=size, epochs=epochs, batch_size=batch_size, crop='none', cache='ram',
                      loggers=('tensorboard',), device='cpu', num_workers=0)
    df, _ = load_train(demo)
    df = add_person_folds(df, n_splits=cfg.n_splits, seed=cfg.seed)
    runs = [0]
    def learner(**kw):
        runs[0] += 1
        return build_learner(cfg, new_run_dir(tmp, f'run{runs[0]}'), df, **kw)

    probe = learner(verbose=False, live=False)
    train_batches, valid_batches = list(probe.train_dl), list(probe.valid_dl)   # ready batches: loaded and augmented once
    n_steps = epochs * len(train_batches)

    def bare():
        learn = learner(verbose=False, live=False)   # the same seeded model, frozen stages, layout, optimizer and loss
        net, opt, loss_fn = learn.model, learn.opt, learn.optim.loss_fn
        t = time.perf_counter(), time.process_time()
        for _ in range(epochs):
            net.train(); losses = []
            for xb, yb in train_batches:
                loss = loss_fn(net(xb), yb)
                loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
                losses.append(loss.item())
            net.eval(); preds, ys = [], []
            with torch.inference_mode():
                for xb, yb in valid_batches: preds.append(net(xb)[:, :3].argmax(1)); ys.append(yb)   # any argmax: the cost is the pass
            f1_score(torch.cat(ys), torch.cat(preds), average='macro')
        return time.perf_counter() - t[0], time.process_time() - t[1]

    def full():
        learn = learner(verbose=True, live=None)   # every default hook; LiveChart headless
        if loader == 'memory':
            learn.train_dl, learn.valid_dl = ReadyBatches(train_batches, probe.train_dl.dataset), ReadyBatches(valid_batches, probe.valid_dl.dataset)
        with contextlib.redirect_stdout(io.StringIO()):
            t = time.perf_counter(), time.process_time()
            learn.fit(epochs)
            dt = time.perf_counter() - t[0], time.process_time() - t[1]
        assert learn.step == n_steps, (learn.step, n_steps)
        return dt, [type(h).__name__ for h in learn.hooks]

    bare(); full()  # warm-up: first-call costs (allocator, TensorBoard import) count in neither
    a, b, hooks = [], [], None
    for i in range(repeats):
        for which in (('A', 'B') if i % 2 == 0 else ('B', 'A')):
            if which == 'A': a.append(bare())
            else:
                dt, hooks = full(); b.append(dt)
    ratio = lambda k: statistics.median(y[k] / x[k] for x, y in zip(a, b)) - 1
    return {'model': model, 'size': list(size), 'batch_size': batch_size, 'epochs': epochs, 'steps': n_steps, 'loader': loader,
            'augment': cfg.augment, 'cache': cfg.cache, 'train_images': len(probe.train_dl.dataset),
            'valid_images': len(probe.valid_dl.dataset), 'repeats': repeats, 'torch_threads': torch.get_num_threads(), 'hooks': hooks,
            'bare_wall_s': [round(x[0], 3) for x in a], 'fit_wall_s': [round(x[0], 3) for x in b],
            'bare_steps_per_s': round(n_steps / statistics.median(x[0] for x in a), 3),
            'fit_steps_per_s': round(n_steps / statistics.median(x[0] for x in b), 3),
            'overhead_wall': round(ratio(0), 4), 'overhead_cpu': round(ratio(1), 4), 'target': 0.05,
            'target_met_wall': ratio(0) <= 0.05}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--people', type=int, default=430, help='demo people (7 photos each; the default gives the issue\'s 3,000 photos)')
    p.add_argument('--epochs', type=int, default=1, help='epochs per run (the per-epoch hooks, such as checkpoints, count once an epoch)')
    p.add_argument('--repeats', type=int, default=3, help='pairs of runs')
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--sizes', nargs='+', default=['128x96', '160x160'], help='HxW')
    p.add_argument('--model', default='mobilenetv2_100')
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--loader', default='real', choices=('real', 'memory'), help="B's loaders: its own (cache, augmentation) or A's batches")
    p.add_argument('--smoke', action='store_true', help='seconds: 5 people, mobilenetv3_small_050 at 32x24, one epoch, one pair')
    a = p.parse_args(argv)
    if a.smoke: a.people, a.epochs, a.repeats, a.batch_size, a.sizes, a.model = 5, 1, 1, 8, ['32x24'], 'mobilenetv3_small_050'
    from mask_lab.demo_data import make_demo_data
    load0 = os.getloadavg()
    demo = make_demo_data(Path(tempfile.mkdtemp()) / 'demo', people=a.people, seed=0)
    results = [bench(a.people, a.epochs, a.repeats, tuple(int(v) for v in s.split('x')), a.batch_size, a.model, a.threads, a.loader, demo)
               for s in a.sizes]
    out = {'command': ' '.join(['python', 'bench/bench_fit.py', *(sys.argv[1:] if argv is None else argv)]),
           'loadavg_before_after': [round(v, 2) for v in (*load0, *os.getloadavg())], 'cpu_count': os.cpu_count(), 'results': results}
    print(json.dumps(out, indent=1))
    return out


if __name__ == '__main__':
    os.environ.pop('IN_TEST', None)  # a run by hand: the progress bar as in a real run
    main()
