"""No run loses work: training processes are killed with SIGKILL (halfway through writing the first checkpoint,
and at a random batch after it) or interrupted with SIGINT (Ctrl-C), then resumed; the resumed run must end with
exactly the metrics of an uninterrupted one, and half-written `.tmp` files are never read. A checkpoint save that
meets a full disk, and a submission written into a read-only folder, must leave the previous file intact. An image
that breaks mid-run stops the run with one line or is skipped and listed; a loader worker that dies is one line."""
import errno
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch.utils.data import get_worker_info

from mask_lab.core import MaskLabError
from mask_lab.demo_data import make_demo_data
from mask_lab.runs import read_metrics
from mask_lab.inference import load_run, write_csv_atomic
from mask_lab.learner import Hook
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
def setup(tmp_path_factory, demo):
    tmp = tmp_path_factory.mktemp('faults')
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
    with pytest.raises(Exception): torch.load(ckpts / 'last.pt.tmp', weights_only=True)   # really half a file
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
    assert torch.load(ckpts / 'last.pt', weights_only=True)['epoch'] == 2
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


# --- Ctrl-C: a real SIGINT to a `mask-lab train` process ---------------------------------------------------------

MASK_LAB = Path(sys.executable).parent / 'mask-lab'
INTERRUPTED = re.compile(r'interrupted at (?:epoch (\d+), batch (\d+)|the start of epoch (\d+)); '
                         r'checkpoint of epoch (\d+) saved to (\S+); resume with: mask-lab train --resume (\S+)')


def test_ctrl_c_stops_after_the_batch_and_resumes_exactly(setup):
    tmp, demo, reference = setup
    run = tmp / 'runs' / 'ctrl_c'
    n = batches_after(tmp / 'runs' / 'reference', 0) // SETTINGS['epochs']
    k = random.Random(SEED).randint(n + 1, 2 * n - 1)   # in the second epoch
    args = ['train', '--data', demo, '--out', tmp / 'runs', '--name', 'ctrl_c', '--model', SETTINGS['model'], '--size', '64', '48',
            '--epochs', '3', '--batch-size', '16', '--seed', '0']   # IN_TEST: no loader workers
    # a test runner started in the background of a shell ignores SIGINT, and so would the child it starts: give the
    # child the default disposition, as a terminal does, so that Python installs its Ctrl-C handler
    proc = subprocess.Popen([MASK_LAB, *map(str, args)], env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    t0 = time.time()
    while batches_after(run, 0) < k:
        assert proc.poll() is None, f'the run ended before the interrupt: {proc.stderr.read()[-2000:]}'
        assert time.time() - t0 < 60, 'timed out waiting for the interrupt point'
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, f'seed {SEED}: {err[-2000:]}'
    assert 'Traceback' not in out + err, err
    m = INTERRUPTED.search(out)
    assert m, out
    assert err.strip().splitlines()[-1] == 'mask-lab: ' + m[0].strip(), err   # the same line ends stderr, also under --quiet
    stopped_in = int(m[1] or m[3]) - 1                  # 0-based epoch
    saved = int(m[4]) - 1
    assert saved == stopped_in - 1 and stopped_in in (1, 2), m[0]   # the last complete epoch
    assert m[5] == str(run / 'checkpoints' / 'last.pt') and m[6] == str(run)
    assert m[0] in (run / 'train.log').read_text()
    last = torch.load(run / 'checkpoints' / 'last.pt', weights_only=True)
    assert last['epoch'] == saved and len(last['training_state']['history']) == saved + 1
    logged = epochs(run)
    assert logged['epoch'].tolist() == list(range(saved + 1))   # the completed epochs' log is kept
    assert logged['macro_f1'].tolist() == reference['macro_f1'].tolist()[:saved + 1]
    from mask_lab.cli import main
    assert main(['train', '--resume', run, '--quiet']) == 0
    final = epochs(run)
    assert final['epoch'].tolist() == [0, 1, 2]
    for col in ('train_loss', 'valid_loss', 'macro_f1'):
        assert final[col].tolist() == reference[col].tolist(), f'seed {SEED}, interrupt after batch {k}: {col} differs'


# --- disk full while writing a checkpoint -------------------------------------------------------------------------

def test_disk_full_during_a_checkpoint_keeps_the_previous_one(setup, monkeypatch, capsys):
    tmp, demo, reference = setup
    run, last = tmp / 'runs' / 'full_disk', tmp / 'runs' / 'full_disk' / 'checkpoints' / 'last.pt'
    real_save, saves, kept = torch.save, [], {}
    def save(obj, f, *a, **k):
        if str(f).endswith('last.pt.tmp'):
            saves.append(f)
            if len(saves) == 2:                         # the second epoch's last.pt: half written, then the disk is full
                kept['bytes'] = last.read_bytes()
                with open(f, 'wb') as out: out.write(b'\x80' * 1000)
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(f))
        return real_save(obj, f, *a, **k)
    monkeypatch.setattr(torch, 'save', save)
    from mask_lab.cli import main
    args = ['train', '--data', demo, '--out', tmp / 'runs', '--name', 'full_disk', '--model', SETTINGS['model'], '--size', '64', '48',
            '--epochs', '3', '--batch-size', '16', '--seed', '0', '--quiet']
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err == f'mask-lab: error: {last}: cannot write (No space left on device)\n'   # one line: the file and the reason
    assert last.read_bytes() == kept['bytes']           # the previous good checkpoint, untouched
    assert torch.load(last, weights_only=True)['epoch'] == 0
    assert sorted(p.name for p in last.parent.iterdir()) == ['best.pt', 'last.pt']   # no temporary file left
    assert 'stopped: ' in (run / 'train.log').read_text()
    monkeypatch.setattr(torch, 'save', real_save)       # space again: the run resumes from epoch 1 and ends as the reference
    assert main(['train', '--resume', run, '--quiet']) == 0
    assert epochs(run)['macro_f1'].tolist() == reference['macro_f1'].tolist()


# --- an image that breaks mid-run, and a loader worker that dies ----------------------------------------------------

TINY = dict(model='mobilenetv3_small_050', size=(32, 24), epochs=1, batch_size=8, verbose=False)


class BreakImages(Hook):
    "Once the loaders exist, truncate one training photo and delete one validation photo, as a failing disk or sync would."
    def before_fit(self, learn):
        self.truncated, self.deleted = Path(learn.train_dl.dataset.paths[0]), Path(learn.valid_dl.dataset.paths[0])
        data = self.truncated.read_bytes()
        self.truncated.write_bytes(data[:len(data) // 3])
        self.deleted.unlink()


@pytest.fixture
def tiny_demo(tmp_path):
    "Its own small data folder: these tests break its images, so it cannot be the shared `demo`."
    return make_demo_data(tmp_path / 'demo', people=8, seed=0)


@pytest.mark.parametrize('workers', [0, 1])
def test_image_broken_mid_run_stops_with_one_line(tiny_demo, tmp_path, workers):
    hook = BreakImages()
    with pytest.raises(MaskLabError) as e:
        train(tiny_demo, out=tmp_path / 'runs', name='stop', hooks=[hook], num_workers=workers, **TINY)
    msg = str(e.value)
    assert msg.startswith(f'{hook.truncated}: cannot read image') and '\n' not in msg and 'Traceback' not in msg, msg
    assert "on_bad_image='skip'" in msg
    assert f'stopped: {msg}' in (tmp_path / 'runs' / 'stop' / 'train.log').read_text()


@pytest.mark.parametrize('workers', [0, 1])
def test_image_broken_mid_run_is_skipped_and_listed(tiny_demo, tmp_path, workers):
    hook = BreakImages()
    learn = train(tiny_demo, out=tmp_path / 'runs', name='skip', hooks=[hook], num_workers=workers, on_bad_image='skip', **TINY)
    assert len(learn.history) == 1
    skipped = pd.read_csv(tmp_path / 'runs' / 'skip' / 'skipped_images.csv')
    assert sorted(skipped.path) == sorted([str(hook.truncated), str(hook.deleted)])
    assert skipped.message.str.contains('cannot read image').all()
    assert json.loads((tmp_path / 'runs' / 'skip' / 'config.json').read_text())['on_bad_image'] == 'skip'


def test_dead_loader_worker_is_one_line(tiny_demo, tmp_path, monkeypatch, capsys):
    import mask_lab.dataset as dataset
    real = dataset.FaceDataset.__getitem__
    def getitem(self, i):                               # the worker is killed as the out-of-memory killer would
        if get_worker_info() is not None and i == 3: os.kill(os.getpid(), signal.SIGKILL)
        return real(self, i)
    monkeypatch.setattr(dataset.FaceDataset, '__getitem__', getitem)
    from mask_lab.cli import main
    assert main(['train', '--data', tiny_demo, '--out', tmp_path / 'runs', '--name', 'dead', '--model', TINY['model'],
                 '--size', '32', '24', '--epochs', '1', '--batch-size', '8', '--workers', '1', '--quiet']) == 2
    err = capsys.readouterr().err
    assert err.startswith('mask-lab: error: a data loader worker died: ') and err.count('\n') == 1, err
    assert 'stopped: a data loader worker died' in (tmp_path / 'runs' / 'dead' / 'train.log').read_text()
