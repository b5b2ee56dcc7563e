"""No run loses work: training processes are killed with SIGKILL (halfway through writing the first checkpoint,
and at a random batch after it), then resumed; the resumed run must end with exactly the metrics of an
uninterrupted one, and half-written `.tmp` files are never read. A submission written into a read-only folder must leave the previous file intact."""
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from mask_lab.core import MaskLabError
from mask_lab.demo_data import make_demo_data
from mask_lab.hooks import read_metrics
from mask_lab.inference import load_run, write_csv_atomic
from mask_lab.train import train

SETTINGS = dict(model='mobilenetv3_small_050', size=(64, 48), epochs=3, batch_size=16, seed=0)
SEED = int(os.environ.get('FAULT_SEED', random.randrange(1000)))   # the random kill point; printed on failure

# A child process that trains (or resumes) one run. With HANG_ON_SAVE=N, its N-th write of last.pt stops halfway:
# half the bytes are in last.pt.tmp, a marker file appears, and the process sleeps until it is killed.
CHILD = '''
import io, os, sys, time, json, torch
hang, marker = int(os.environ.get('HANG_ON_SAVE', 0)), os.environ.get('MARKER', '')
real_save, saves = torch.save, []
def save(obj, f, *a, **k):
    if str(f).endswith('last.pt.tmp'):
        saves.append(f)
        if len(saves) == hang:
            buf = io.BytesIO(); real_save(obj, buf); data = buf.getvalue()
            with open(f, 'wb') as out: out.write(data[:len(data) // 2]); out.flush(); os.fsync(out.fileno())
            open(marker, 'w').close()
            time.sleep(120)
    return real_save(obj, f, *a, **k)
torch.save = save
from mask_lab.train import train
args = json.loads(sys.argv[1])
train(**args, verbose=False)
'''


def env():
    return {**os.environ, 'IN_TEST': '1', 'OMP_NUM_THREADS': '1', 'PYTHONHASHSEED': '0'}


def start(args, **extra):
    return subprocess.Popen([sys.executable, '-c', CHILD, json.dumps(args)], env={**env(), **extra},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def kill_when(proc, condition, timeout=60):
    "SIGKILL `proc` as soon as `condition()` is true; fail if the process ends first."
    t0 = time.time()
    while not condition():
        if proc.poll() is not None: pytest.fail(f'the process ended (code {proc.returncode}) before the kill: {proc.stderr.read().decode()[-2000:]}')
        if time.time() - t0 > timeout: proc.kill(); pytest.fail('timed out waiting for the kill point')
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL


def batches_after(run, since):
    "Number of batch lines in run/metrics.jsonl written after time `since`."
    path = run / 'metrics.jsonl'
    if not path.exists(): return 0
    n = 0
    for line in path.read_text().splitlines():
        try: rec = json.loads(line)
        except ValueError: continue                   # a half-written last line
        n += rec.get('kind') == 'batch' and rec['time'] > since
    return n


def epochs(run): return read_metrics(run)[1]


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('faults')
    demo = make_demo_data(tmp / 'demo', people=20, seed=0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                          # as in the child processes: same arithmetic, same numbers
    try: train(demo, out=tmp / 'runs', name='reference', verbose=False, **SETTINGS)
    finally: torch.set_num_threads(threads)
    return tmp, demo, epochs(tmp / 'runs' / 'reference')


def test_kill_during_the_first_checkpoint_save_says_nothing_to_resume(setup):
    tmp, demo, _ = setup
    run, ckpts = tmp / 'runs' / 'early', tmp / 'runs' / 'early' / 'checkpoints'
    marker = tmp / 'saving'
    proc = start(dict(data=str(demo), out=str(tmp / 'runs'), name='early', **SETTINGS), HANG_ON_SAVE='1', MARKER=str(marker))
    kill_when(proc, marker.exists)                    # killed halfway through writing the first last.pt
    assert (ckpts / 'last.pt.tmp').stat().st_size > 0 and not (ckpts / 'last.pt').exists()
    with pytest.raises(Exception): torch.load(ckpts / 'last.pt.tmp', weights_only=False)   # really half a file
    with pytest.raises(MaskLabError, match=f'{run}: nothing to resume: no checkpoint yet'): train(resume=run, verbose=False)


def test_killed_at_a_random_batch_resumes_exactly(setup):
    tmp, demo, reference = setup
    run, ckpts = tmp / 'runs' / 'faulty', tmp / 'runs' / 'faulty' / 'checkpoints'
    n = batches_after(tmp / 'runs' / 'reference', 0) // SETTINGS['epochs']   # batches per epoch
    k = random.Random(SEED).randint(n + 1, 3 * n - 1)   # somewhere after the first checkpoint, before the end
    proc = start(dict(data=str(demo), out=str(tmp / 'runs'), name='faulty', **SETTINGS))
    kill_when(proc, lambda: batches_after(run, 0) >= k)
    # leftovers of interrupted saves: half a last.pt and a garbage best.pt, under the temporary names
    last = (ckpts / 'last.pt').read_bytes()
    (ckpts / 'last.pt.tmp').write_bytes(last[:len(last) // 2])
    (ckpts / 'best.pt.tmp').write_bytes(b'\x80garbage')
    assert load_run(run)[1]['model'] == SETTINGS['model']   # best.pt, not best.pt.tmp
    learn = train(resume=run, verbose=False)                # last.pt, not last.pt.tmp
    final = epochs(run)
    assert final['epoch'].tolist() == [0, 1, 2], f'seed {SEED}: each epoch logged once'
    for col in ('train_loss', 'valid_loss', 'macro_f1', 'accuracy'):
        assert final[col].tolist() == reference[col].tolist(), f'seed {SEED}, kill after batch {k}: {col} differs'
    assert learn.history[-1]['valid_loss'] == reference['valid_loss'].iloc[-1]
    assert learn.history[-1]['macro_f1'] == reference['macro_f1'].iloc[-1]
    assert torch.load(ckpts / 'last.pt', weights_only=False)['epoch'] == 2
    names = {p.name for p in ckpts.iterdir()}
    assert {'best.pt', 'last.pt'} <= names and 'last.pt.tmp' not in names   # the next save replaced the half file


def test_load_run_reads_last_pt(setup):
    tmp, _, _ = setup
    assert load_run(tmp / 'runs' / 'reference', 'last.pt')[1]['model'] == SETTINGS['model']


@pytest.fixture
def read_only(tmp_path, monkeypatch):
    "A folder where new files cannot be made (chmod; as root, which ignores it, `open` is refused as well)."
    folder = tmp_path / 'out'
    folder.mkdir()
    (folder / 'submission.csv').write_text('ImageID,ans\na.jpg,3\n')
    folder.chmod(0o555)
    if os.geteuid() == 0:
        import mask_lab.inference as inference
        def refuse(path, *a, **k):
            if Path(path).parent == folder: raise PermissionError(13, 'Permission denied', str(path))
            return open(path, *a, **k)
        monkeypatch.setattr(inference, 'open', refuse, raising=False)
    yield folder
    folder.chmod(0o755)


def test_read_only_submission_folder_keeps_the_previous_file(read_only):
    path = read_only / 'submission.csv'
    with pytest.raises(MaskLabError): write_csv_atomic(pd.DataFrame({'ImageID': ['a.jpg'], 'ans': [5]}), path)
    assert path.read_text() == 'ImageID,ans\na.jpg,3\n'
    assert [p.name for p in read_only.iterdir()] == ['submission.csv']


def test_read_only_submission_folder_is_a_clear_error(read_only):
    path = read_only / 'submission.csv'
    with pytest.raises(MaskLabError, match=f'{path}: cannot write'):
        write_csv_atomic(pd.DataFrame({'ImageID': ['a.jpg'], 'ans': [5]}), path)
