"""How much does the lab's training loop cost over a bare PyTorch loop? Prints one JSON object; run by hand.

    OMP_NUM_THREADS=1 python bench/bench_fit.py                  # defaults: 60 people, 3 epochs, 5 pairs
    python bench/bench_fit.py --repeats 7 --epochs 4 --threads 2

B is `Learner.fit` of the Learner that `mask_lab.train.train` builds (`build_learner`), with every default hook of a run:
the loss and optimizer hook, the cosine schedule, `JsonlLogger`, `TextLogger` (its screen output swallowed),
`Checkpoint` (best.pt and last.pt with the full training state, every epoch), `TensorBoardLogger`, the
`ProgressBar` (tqdm; it draws only on a terminal) and `LiveChart` in its headless fallback (no notebook: it keeps
the curves and draws nothing). A is a hand-written loop over the same model (same seed, same initial weights),
the same optimizer, the same tensors and the same number of steps: forward, cross-entropy, backward, step, a
`loss.item()` per batch (any loop that reports its loss does this), and per epoch a validation pass with macro F1.
Both read the same pre-loaded tensors (images decoded once), so a fit is pure compute and the overhead is, if
anything, larger than in a real run where image decoding adds time the hooks do not touch.

Pairs run A B B A A B ... so that drift in the machine's load falls on both alike; the figure is the median of
the per-pair ratios B/A minus one, in wall time and in this process's CPU time.
"""
from __future__ import annotations
import argparse, contextlib, io, json, os, statistics, sys, tempfile, time
from pathlib import Path


def bench(people=60, epochs=3, repeats=5, size=(64, 48), batch_size=32, model='mobilenetv3_small_050', threads=None) -> dict:
    os.environ.pop('IN_TEST', None)  # the progress bar is left out under tests
    import numpy as np, torch, torch.nn.functional as F
    from sklearn.metrics import f1_score
    from mask_lab.demo_data import make_demo_data
    from mask_lab.data import add_person_folds, load_train
    from mask_lab.dataset import make_loader
    from mask_lab.model import create_model
    from mask_lab.learner import make_optimizer
    from mask_lab.train import TrainConfig, build_learner, seed_everything, new_run_dir

    if threads: torch.set_num_threads(threads)
    tmp = Path(tempfile.mkdtemp())
    demo = make_demo_data(tmp / 'demo', people=people, seed=0)
    cfg = TrainConfig(data=str(demo), model=model, size=size, epochs=epochs, batch_size=batch_size, lr=3e-3,
                      loggers=('tensorboard',), device='cpu', num_workers=0)
    df, _ = load_train(demo)
    df = add_person_folds(df, n_splits=cfg.n_splits, seed=cfg.seed)

    def in_memory(dl, bs, shuffle):
        xs, ys = zip(*dl)
        ds = torch.utils.data.TensorDataset(torch.cat(xs), torch.cat(ys))
        return torch.utils.data.DataLoader(ds, batch_size=bs, shuffle=shuffle, drop_last=shuffle,
                                           generator=torch.Generator().manual_seed(0))

    probe = build_learner(cfg, new_run_dir(tmp, 'probe'), df, verbose=False, live=False)
    train_dl = in_memory(probe.train_dl, batch_size, True)
    valid_dl = in_memory(probe.valid_dl, batch_size * 2, False)
    n_steps = epochs * len(train_dl)

    def bare() -> float:
        seed_everything(cfg.seed)
        net = create_model(model)
        opt = make_optimizer(cfg.optimizer, net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        t = time.perf_counter(), time.process_time()
        for _ in range(epochs):
            net.train(); losses = []
            for xb, yb in train_dl:
                loss = F.cross_entropy(net(xb), yb)
                loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
                losses.append(loss.item())
            net.eval(); preds, ys = [], []
            with torch.inference_mode():
                for xb, yb in valid_dl: preds.append(net(xb).argmax(1)); ys.append(yb)
            f1_score(torch.cat(ys), torch.cat(preds), average='macro')
        return time.perf_counter() - t[0], time.process_time() - t[1]

    runs = [0]
    def full() -> float:
        runs[0] += 1
        learn = build_learner(cfg, new_run_dir(tmp, f'run{runs[0]}'), df, verbose=True, live=None)  # every default hook; LiveChart headless
        learn.train_dl, learn.valid_dl = train_dl, valid_dl
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
    return {'model': model, 'size': list(size), 'batch_size': batch_size, 'epochs': epochs, 'steps': n_steps,
            'train_images': len(train_dl.dataset), 'valid_images': len(valid_dl.dataset), 'repeats': repeats,
            'torch_threads': torch.get_num_threads(), 'hooks': hooks,
            'bare_wall_s': [round(x[0], 3) for x in a], 'fit_wall_s': [round(x[0], 3) for x in b],
            'bare_steps_per_s': round(n_steps / statistics.median(x[0] for x in a), 2),
            'fit_steps_per_s': round(n_steps / statistics.median(x[0] for x in b), 2),
            'overhead_wall': round(ratio(0), 4), 'overhead_cpu': round(ratio(1), 4), 'target': 0.03}


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--people', type=int, default=60)
    p.add_argument('--epochs', type=int, default=3)
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--size', type=int, nargs=2, default=(64, 48))
    p.add_argument('--model', default='mobilenetv3_small_050')
    p.add_argument('--threads', type=int, default=None)
    a = p.parse_args()
    print(json.dumps(bench(a.people, a.epochs, a.repeats, tuple(a.size), a.batch_size, a.model, a.threads), indent=2))
