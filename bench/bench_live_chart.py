"""How much does `LiveChart` slow training down? Prints one JSON object; run by hand, not part of the tests.

    python bench/bench_live_chart.py                # LiveChart(display=True) drawing into a FigureWidget, no browser
    python bench/bench_live_chart.py --kernel       # the same inside a real Jupyter kernel (widget messages go over ZMQ)
    python bench/bench_live_chart.py --smoke        # seconds: 5 people, one epoch, one pair (run by the tests)

The same tiny fit runs with the chart (B) and without it (A), alternating A B B A A B ... so that drift in the
machine's load falls on both alike; the figure is the median of the per-pair ratios B/A minus one, in wall time and
in this process's CPU time (steadier on a shared machine; it includes the kernel's message threads in --kernel mode). The chart's own
drawing time (`draw_seconds`, timed inside the hook) is reported as a share of the fit too: it is less noisy than a
difference of two wall times. The training images are decoded once and kept in memory, so a fit is all compute and
the ratio is, if anything, larger than in a real run (where data loading adds to the time the chart does not touch).
"""
from __future__ import annotations
import argparse, json, os, statistics, sys, tempfile, time
from pathlib import Path


def bench(people=60, epochs=3, repeats=5, size=(64, 48), batch_size=16, model='mobilenetv3_small_050', every=1.0,
          display=True, threads=None) -> dict:
    "Time `repeats` pairs of fits without and with `LiveChart(display, every)`; return the figures as a dict."
    import torch
    from mask_lab.demo_data import make_demo_data
    from mask_lab.data import load_train, add_person_folds
    from mask_lab.images import Preprocess
    from mask_lab.dataset import make_loader
    from mask_lab.model import create_model
    from mask_lab.learner import Learner
    from mask_lab.loggers import LiveChart, in_notebook

    if threads: torch.set_num_threads(threads)
    demo = make_demo_data(Path(tempfile.mkdtemp()) / 'demo', people=people, seed=0)
    df, _ = load_train(demo)
    df = add_person_folds(df, n_splits=5)
    pre = Preprocess(size=tuple(size))

    def in_memory(dl, bs):
        xs, ys = zip(*dl)
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.cat(xs), torch.cat(ys)), batch_size=bs)
    train_dl = in_memory(make_loader(df[df.fold != 0], pre, train=True, batch_size=batch_size, num_workers=0), batch_size)
    valid_dl = in_memory(make_loader(df[df.fold == 0], pre, batch_size=64, num_workers=0), 64)

    class TimedChart(LiveChart):
        "LiveChart that also times its own events: `setup_s` (before_fit: widget built and shown), `hook_s` (the rest)."
        def __init__(self, *a, **kw): super().__init__(*a, **kw); self.setup_s = self.hook_s = 0.0
        def before_fit(self, learn):
            t = time.perf_counter(); super().before_fit(learn); self.setup_s += time.perf_counter() - t
        def _timed(self, event, learn):
            t = time.perf_counter(); getattr(super(), event)(learn); self.hook_s += time.perf_counter() - t
        def after_batch(self, learn): self._timed('after_batch', learn)
        def after_epoch(self, learn): self._timed('after_epoch', learn)
        def after_fit(self, learn): self._timed('after_fit', learn)

    def fit(with_chart: bool):
        torch.manual_seed(0)
        chart = TimedChart(display=display, every=every) if with_chart else None
        learn = Learner(create_model(model), train_dl, valid_dl, hooks=[chart] if chart else [], lr=3e-3, device='cpu')
        start, cpu = time.perf_counter(), time.process_time()
        learn.fit(epochs)
        return (time.perf_counter() - start, time.process_time() - cpu), chart

    fit(False); _, chart = fit(True)  # warm-up: imports, first FigureWidget (loads plotly's widget bundle once)
    a, b, a_cpu, b_cpu, draws, draw_s, shown, setup_s, hook_s = [], [], [], [], [], [], [], [], []
    for r in range(repeats):
        for with_chart in ((False, True) if r % 2 == 0 else (True, False)):
            (seconds, cpu), chart = fit(with_chart)
            if chart is None: a.append(seconds); a_cpu.append(cpu); continue
            b.append(seconds); b_cpu.append(cpu); draws.append(chart.n_draws); draw_s.append(chart.draw_seconds); shown.append(chart.shows)
            setup_s.append(chart.setup_s); hook_s.append(chart.hook_s)
    ratios, cpu_ratios = [y / x for x, y in zip(a, b)], [y / x for x, y in zip(a_cpu, b_cpu)]
    return {
        'what': 'LiveChart overhead: fit time with the chart / without, same fit, interleaved pairs',
        'in_notebook': in_notebook(), 'chart_shown': all(shown), 'display': display, 'every_s': every,
        'model': model, 'size': list(size), 'batch_size': batch_size, 'epochs': epochs,
        'batches_per_fit': epochs * len(train_dl), 'repeats': repeats, 'torch_threads': torch.get_num_threads(),
        'fit_s_without': [round(x, 3) for x in a], 'fit_s_with': [round(x, 3) for x in b],
        'overhead_pct_median': round(100 * (statistics.median(ratios) - 1), 2),
        'overhead_pct_pairs': [round(100 * (r - 1), 2) for r in ratios],
        'cpu_s_without': [round(x, 3) for x in a_cpu], 'cpu_s_with': [round(x, 3) for x in b_cpu],
        'overhead_cpu_pct_median': round(100 * (statistics.median(cpu_ratios) - 1), 2),
        'overhead_cpu_pct_pairs': [round(100 * (r - 1), 2) for r in cpu_ratios],
        'draws_per_fit': statistics.median(draws), 'draw_ms_mean': round(1000 * sum(draw_s) / max(1, sum(draws)), 2),
        'draw_share_pct': round(100 * statistics.median(d / s for d, s in zip(draw_s, b)), 2),
        'setup_s_median': round(statistics.median(setup_s), 3),
        'hook_share_pct': round(100 * statistics.median(h / s for h, s in zip(hook_s, b)), 2),
        'notes': 'draw_share: time inside draw() / fit time; hook_share: all LiveChart time after before_fit (recording '
                 'and drawing) / fit time; setup_s: building and showing the widget, once per fit',
    }


def in_kernel(args) -> dict:
    "Run `bench` inside a fresh Jupyter kernel (chart on by detection) and count the widget messages it sends."
    from jupyter_client.manager import start_new_kernel
    os.environ['PATH'] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get('PATH', '')
    km, kc = start_new_kernel(kernel_name='python3')
    code = (f'import sys, json; sys.path.insert(0, {str(Path(__file__).parent)!r}); import bench_live_chart as b\n'
            f'print("RESULT" + json.dumps(b.bench(people={args.people}, epochs={args.epochs}, repeats={args.repeats}, '
            f'size={tuple(args.size)}, batch_size={args.batch_size}, model={args.model!r}, every={args.every}, '
            f'display=None, threads={args.threads})))')
    try:
        msg_id = kc.execute(code)
        out, comm_msgs, comm_bytes = None, 0, 0
        while True:
            msg = kc.get_iopub_msg(timeout=1800)
            if msg['parent_header'].get('msg_id') != msg_id: continue
            kind = msg['msg_type']
            if kind == 'comm_msg':
                comm_msgs += 1; comm_bytes += len(json.dumps(msg['content'], default=str))
            elif kind == 'stream' and 'RESULT' in msg['content']['text']:
                out = json.loads(msg['content']['text'].split('RESULT', 1)[1])
            elif kind == 'error': raise RuntimeError('\n'.join(msg['content']['traceback']))
            elif kind == 'status' and msg['content']['execution_state'] == 'idle': break
    finally:
        kc.stop_channels(); km.shutdown_kernel(now=True)
    out.update(kernel=True, widget_comm_msgs=comm_msgs, widget_comm_kbytes=round(comm_bytes / 1024, 1))
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--people', type=int, default=60)
    p.add_argument('--epochs', type=int, default=3)
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--size', type=int, nargs=2, default=(64, 48))
    p.add_argument('--batch-size', type=int, default=16)
    p.add_argument('--model', default='mobilenetv3_small_050')
    p.add_argument('--every', type=float, default=1.0, help='LiveChart redraw interval in seconds')
    p.add_argument('--threads', type=int, default=None, help='torch threads (default: torch decides)')
    p.add_argument('--kernel', action='store_true', help='run inside a Jupyter kernel, as in JupyterLab')
    p.add_argument('--smoke', action='store_true', help='seconds: 5 people at 32x24, one epoch, one pair')
    args = p.parse_args(argv)
    if args.smoke: args.people, args.epochs, args.repeats, args.size = 5, 1, 1, (32, 24)
    load0 = os.getloadavg()
    result = in_kernel(args) if args.kernel else bench(args.people, args.epochs, args.repeats, tuple(args.size),
                                                       args.batch_size, args.model, args.every, True, args.threads)
    result['loadavg_before_after'] = [round(v, 2) for v in (*load0, *os.getloadavg())]
    print(json.dumps(result, indent=1))
    return result


if __name__ == '__main__':
    main()
