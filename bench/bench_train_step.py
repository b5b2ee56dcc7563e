"""What a training step costs on this machine with channels-last memory and frozen early stages. Prints one JSON object; run by hand.

    python bench/bench_train_step.py                      # mobilenetv2_100, batch 64, 128x96 and 160x160
    python bench/bench_train_step.py --model tf_efficientnet_lite0 --sizes 128x96
    python bench/bench_train_step.py --smoke             # seconds: a tiny model at 32x24, one step (run by the tests)
    python bench/bench_train_step.py --sizes 160x160 --compare dlib_resnet29 --batch-size 32 --steps 3 --rounds 2
                                                          # the face trunk against MobileNetV2, in the same rounds

One step is forward, cross-entropy on three heads' logits, backward and an AdamW step on random inputs, as in
`Learner.fit` without the data loader. Each setting is timed in this process's CPU time (all threads) and in wall
time over `--steps` steps after 2 warm-up steps. Settings take turns, round after round (`--rounds`), so that
drift in the machine's load falls on all of them alike. The figure is each setting's median time over that of
the plain setting (contiguous memory, nothing frozen) at the same size: below 1 is faster. With `--compare`, the
other models take their turns in the same rounds, and `cpu_ratio_vs_baseline` divides each row's CPU time per
image by that of `--model`'s plain setting at the same size.
"""
from __future__ import annotations
import argparse, json, os, statistics, time


def step_seconds(model: str, size, channels_last: bool, frozen: int, batch_size: int, steps: int) -> tuple[float, float]:
    import torch, torch.nn.functional as F
    from mask_lab.model import create_model, freeze_stages
    torch.manual_seed(0)
    net = freeze_stages(create_model(model, layout='multi', weights='auto'), frozen)
    if channels_last: net = net.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-3)
    x, y = torch.randn(batch_size, 3, *size), torch.randint(0, 3, (batch_size,))
    net.train()
    for i in range(steps + 2):
        if i == 2: cpu, wall = time.process_time(), time.perf_counter()
        loss = F.cross_entropy(net(x)[:, 5:8], y)
        opt.zero_grad(); loss.backward(); opt.step()
    return (time.process_time() - cpu) / steps, (time.perf_counter() - wall) / steps


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--model', default='mobilenetv2_100')
    p.add_argument('--compare', nargs='*', default=[], help='more models, timed in the same rounds against --model')
    p.add_argument('--sizes', nargs='+', default=['128x96', '160x160'], help='HxW')
    p.add_argument('--frozen', type=int, default=3, help='stages to freeze in the frozen settings')
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--steps', type=int, default=5)
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--threads', type=int, default=os.cpu_count() or 1)
    p.add_argument('--smoke', action='store_true', help='seconds: mobilenetv3_small_050 at 32x24, batch 4, 1 step, 1 round, 1 thread')
    args = p.parse_args(argv)
    if args.smoke:
        args.model, args.sizes, args.batch_size, args.steps, args.rounds, args.threads = 'mobilenetv3_small_050', ['32x24'], 4, 1, 1, 1
        args.compare = []
    load0 = os.getloadavg()
    import torch
    torch.set_num_threads(args.threads)
    settings = [dict(channels_last=False, frozen=0), dict(channels_last=True, frozen=0),
                dict(channels_last=False, frozen=args.frozen), dict(channels_last=True, frozen=args.frozen)]
    models, results = [args.model, *args.compare], []
    for size_text in args.sizes:
        size = tuple(int(v) for v in size_text.split('x'))
        times = {m: [[] for _ in settings] for m in models}
        for _ in range(args.rounds):
            for m in models:
                for t, s in zip(times[m], settings): t.append(step_seconds(m, size, batch_size=args.batch_size, steps=args.steps, **s))
        base = statistics.median(c for c, _ in times[args.model][0])
        for m in models:
            cpu = [statistics.median(c for c, _ in t) for t in times[m]]
            wall = [statistics.median(w for _, w in t) for t in times[m]]
            for s, c, w in zip(settings, cpu, wall):
                results.append(dict(size=size_text, **s, cpu_seconds_per_step=round(c, 3), wall_seconds_per_step=round(w, 3),
                                    cpu_ratio=round(c / cpu[0], 3), wall_ratio=round(w / wall[0], 3),
                                    **(dict(model=m, cpu_seconds_per_image=round(c / args.batch_size, 4),
                                            cpu_ratio_vs_baseline=round(c / base, 3)) if args.compare else {})))
    out = dict(model=args.model, compare=args.compare, batch_size=args.batch_size, threads=args.threads, steps=args.steps, rounds=args.rounds,
               loadavg_before_after=[round(v, 2) for v in (*load0, *os.getloadavg())], results=results)
    print(json.dumps(out))
    return out


if __name__ == '__main__':
    main()
