"The loop's promises through `train` and `resume_run`: a custom OptimHook, cancels from any event, a monitor with a direction."
import json, os

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from mask_lab.core import MaskLabError
from mask_lab.losses import make_loss
from mask_lab.learner import Learner, Hook, OptimHook, CancelBatch, CancelEpoch, CancelFit
from mask_lab.hooks import Checkpoint, EarlyStopping, LRSchedule
from mask_lab.loggers import JsonlLogger
from mask_lab.runs import read_metrics
from mask_lab.config import TrainConfig
from mask_lab.train import train, resume_run, build_loss, Interrupted

SETTINGS = dict(model='mobilenetv3_small_050', size=(48, 32), batch_size=16, seed=0, verbose=False, live=False)
OFFSET = 100.0


class OffsetLoss(OptimHook):
    "The run's loss plus a constant: proof that this hook computed every training loss."
    def __init__(self, **kw): super().__init__(**kw); self.calls = 0
    def compute_loss(self, learn):
        self.calls += 1
        return super().compute_loss(learn) + OFFSET


class InterruptAt(Hook):
    "Ctrl-C at the start of epoch `epoch`, as a user would press it."
    def __init__(self, epoch): self.epoch = epoch
    def before_epoch(self, learn):
        if learn.epoch == self.epoch: raise KeyboardInterrupt()


# ---------------------------------------------------------------- a custom OptimHook

def test_custom_optim_hook_replaces_the_default_and_gets_the_run_settings(demo, tmp_path):
    hook = OffsetLoss()
    learn = train(demo, out=tmp_path, name='r', epochs=1, accumulate=2, clip_grad=1.0, hooks=[hook], **SETTINGS)
    assert learn.optim is hook and sum(isinstance(h, OptimHook) for h in learn.hooks) == 1
    assert hook.calls == len(learn.train_dl)                            # it computed every batch's loss
    assert (hook.accumulate, hook.clip_grad) == (2, 1.0)                 # the run's settings
    split = pd.read_csv(tmp_path / 'r' / 'split.csv')
    run_loss = build_loss(TrainConfig.from_dict(learn.config), split[split.fold != 0].label)
    assert type(hook.loss_fn) is type(run_loss) and hook.loss_fn is not None  # the run's loss, not the plain default
    assert learn.history[0]['train_loss'] > OFFSET                       # and changed the loss
    batches, _ = read_metrics(tmp_path / 'r')
    assert (batches.loss > OFFSET).all()


def test_custom_optim_hook_keeps_the_settings_it_states(demo, tmp_path):
    loss = make_loss('focal', 'multi')   # not the run's 'ce'
    hook = OffsetLoss(loss_fn=loss, accumulate=1, clip_grad=5.0)
    learn = train(demo, out=tmp_path, name='r', epochs=1, accumulate=3, clip_grad=1.0, hooks=[hook], **SETTINGS)
    assert (hook.loss_fn, hook.accumulate, hook.clip_grad) == (loss, 1, 5.0)
    assert learn.history[0]['train_loss'] > OFFSET


def test_custom_optim_hook_through_resume_run(demo, tmp_path):
    with pytest.raises(Interrupted):
        train(demo, out=tmp_path, name='r', epochs=2, hooks=[InterruptAt(1)], **SETTINGS)
    hook = OffsetLoss()
    learn = resume_run(tmp_path / 'r', hooks=[hook], verbose=False, live=False)
    assert learn.optim is hook and hook.calls == len(learn.train_dl)
    assert learn.history[0]['train_loss'] < OFFSET < learn.history[1]['train_loss']


def test_two_optim_hooks_is_a_clear_error(demo, tmp_path):
    with pytest.raises(MaskLabError, match='OptimHook'):
        train(demo, out=tmp_path, name='r', epochs=1, hooks=[OffsetLoss(), OptimHook()], **SETTINGS)
    assert not (tmp_path / 'r').exists()
    with pytest.raises(MaskLabError, match='OptimHook'):
        Learner(nn.Linear(2, 18), [], [], hooks=[OptimHook(), OptimHook()], device='cpu')


# ---------------------------------------------------------------- cancels: a tiny loop on random tensors

def tiny_loaders(n_train=8, batch_size=4):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(n_train + 6, 3, 4, 4, generator=g), torch.arange(n_train + 6) % 18
    return (DataLoader(TensorDataset(x[:n_train], y[:n_train]), batch_size=batch_size),
            DataLoader(TensorDataset(x[n_train:], y[n_train:]), batch_size=8))


def tiny_learner(*hooks):
    torch.manual_seed(0)
    train_dl, valid_dl = tiny_loaders()
    return Learner(nn.Sequential(nn.Flatten(), nn.Linear(48, 18)), train_dl, valid_dl, hooks=list(hooks), device='cpu')


BATCH_EVENTS = ('before_batch', 'after_pred', 'after_loss', 'before_step', 'after_step', 'after_cancel_batch', 'after_batch')

class Raise(Hook):
    "Raise `exc` in `event` at epoch `epoch` (and batch 0 for batch events)."
    order = 55
    def __init__(self, event, exc, epoch=0): self.event, self.exc, self.epoch = event, exc, epoch
    def __getattr__(self, name):
        if name != self.__dict__.get('event'): raise AttributeError(name)
        def f(learn):
            if learn.epoch == self.epoch and (name not in BATCH_EVENTS or learn.batch_idx == 0): raise self.exc()
        return f


@pytest.mark.parametrize('event', ['before_epoch', 'before_batch', 'after_loss', 'after_batch', 'after_validate', 'after_epoch'])
def test_cancel_epoch_from_any_epoch_event_keeps_every_epoch_and_checkpoint(event, tmp_path):
    learn = tiny_learner(Raise(event, CancelEpoch), ckpt := Checkpoint(tmp_path, {}))
    assert len(learn.fit(2)) == 2
    assert torch.load(tmp_path / 'last.pt', weights_only=True)['epoch'] == 1 and ckpt.saved_epoch == 1


@pytest.mark.parametrize('event', ['before_batch', 'after_pred', 'after_loss', 'before_step', 'after_step', 'after_batch'])
def test_cancel_batch_from_any_batch_event_ends_only_the_batch(event):
    learn = tiny_learner(Raise(event, CancelBatch))
    assert len(learn.fit(2)) == 2 and learn.step == 4


@pytest.mark.parametrize('event', ['before_fit', 'after_cancel_fit', 'after_fit', 'after_validate', 'after_epoch'])
def test_cancel_batch_outside_a_batch_is_a_clear_error(event):
    with pytest.raises(MaskLabError, match=f'CancelBatch.*{event}'):
        tiny_learner(Raise(event, CancelBatch), Raise('before_fit', CancelFit) if event == 'after_cancel_fit' else Hook()).fit(1)


def test_cancel_fit_in_a_batch_ends_the_run_after_the_epochs_hooks(tmp_path):
    learn = tiny_learner(Raise('after_step', CancelFit, epoch=1), Checkpoint(tmp_path, {}))
    assert len(learn.fit(3)) == 2
    assert torch.load(tmp_path / 'last.pt', weights_only=True)['epoch'] == 1


# ---------------------------------------------------------------- JsonlLogger

class SkipOdd(Hook):
    order = 5
    def before_batch(self, learn):
        if learn.batch_idx % 2: raise CancelBatch()


def test_jsonl_logger_does_not_log_a_loss_for_a_batch_cancelled_before_its_loss(tmp_path):
    train_dl, valid_dl = tiny_loaders(n_train=16)
    learn = Learner(nn.Sequential(nn.Flatten(), nn.Linear(48, 18)), train_dl, valid_dl, hooks=[SkipOdd(), JsonlLogger(tmp_path / 'metrics.jsonl')], device='cpu')
    learn.fit(1)
    batches, _ = read_metrics(tmp_path)
    assert len(batches) == 2 and batches.step.tolist() == [1, 3]     # batches 0 and 2 (steps counted after each batch)
    assert batches.loss.nunique() == 2


# ---------------------------------------------------------------- a monitor with a direction

class FakeLoss(Hook):
    "valid_loss of 3, 1, 2 in epochs 0, 1, 2."
    order = 10
    def after_validate(self, learn): learn.metrics['valid_loss'] = [3.0, 1.0, 2.0][learn.epoch]


def test_checkpoint_on_a_loss_keeps_the_lowest(tmp_path):
    learn = tiny_learner(FakeLoss(), ckpt := Checkpoint(tmp_path, {}, monitor='valid_loss'))
    learn.fit(3)
    assert (ckpt.best, ckpt.best_epoch) == (1.0, 1)
    assert torch.load(tmp_path / 'best.pt', weights_only=True)['epoch'] == 1


def test_early_stopping_on_a_loss_waits_for_it_to_fall():
    learn = tiny_learner(FakeLoss(), stop := EarlyStopping(monitor='valid_loss', patience=1))
    assert len(learn.fit(5)) == 3 and stop.best == 1.0        # epoch 2 is worse than epoch 1: stop


def test_a_monitor_typo_fails_before_the_first_epoch(tmp_path):
    for hook in (Checkpoint(tmp_path, {}, monitor='macro_f'), EarlyStopping(monitor='macro_f'), LRSchedule('plateau', monitor='macro_f')):
        learn = tiny_learner(hook)
        with pytest.raises(MaskLabError, match="'macro_f'.*macro_f1"): learn.fit(1)
        assert learn.history == []


def test_train_monitor_typo_fails_before_the_run_folder(demo, tmp_path):
    with pytest.raises(MaskLabError, match="'valid_los'.*valid_loss"):
        train(demo, out=tmp_path, name='r', epochs=1, monitor='valid_los', **SETTINGS)
    assert not (tmp_path / 'r').exists()


def test_train_monitors_a_loss_downwards(demo, tmp_path):
    learn = train(demo, out=tmp_path, name='r', epochs=2, monitor='valid_loss', patience=5, schedule='plateau',
                  hooks=[FakeLoss()], **SETTINGS)
    ckpt = next(h for h in learn.hooks if isinstance(h, Checkpoint))
    stop = next(h for h in learn.hooks if isinstance(h, EarlyStopping))
    sched = next(h for h in learn.hooks if isinstance(h, LRSchedule))
    assert (ckpt.mode, stop.mode, sched.mode, sched.monitor) == ('min', 'min', 'min', 'valid_loss')
    assert (ckpt.best, ckpt.best_epoch, stop.best) == (1.0, 1, 1.0)


# ---------------------------------------------------------------- checkpoints load with weights_only=True

class Marker:
    "Unpickling this runs code: it creates the folder `path` (what a tampered checkpoint could do far worse)."
    def __init__(self, path): self.path = str(path)
    def __reduce__(self): return (os.mkdir, (self.path,))


def test_resume_refuses_a_checkpoint_that_carries_a_pickled_object(demo, tmp_path):
    with pytest.raises(Interrupted):
        train(demo, out=tmp_path, name='r', epochs=2, hooks=[InterruptAt(1)], **SETTINGS)
    last = tmp_path / 'r' / 'checkpoints' / 'last.pt'
    ckpt = torch.load(last, weights_only=True)          # what the loop saves loads without pickled code
    ckpt['config']['note'] = Marker(tmp_path / 'ran')
    torch.save(ckpt, last)
    with pytest.raises(MaskLabError, match='cannot read checkpoint'):
        resume_run(tmp_path / 'r', verbose=False, live=False)
    assert not (tmp_path / 'ran').exists()               # the object's code did not run


def test_backbone_lr_gives_the_backbone_its_own_rate_through_resume(demo, tmp_path):
    with pytest.raises(Interrupted):
        train(demo, out=tmp_path, name='r', epochs=2, lr=1e-3, backbone_lr=1e-4, schedule='constant', hooks=[InterruptAt(1)], **SETTINGS)
    learn = resume_run(tmp_path / 'r', verbose=False, live=False)
    assert [g['lr'] for g in learn.opt.param_groups] == [1e-3, 1e-4]          # the heads, then the backbone
    assert sum(len(g['params']) for g in learn.opt.param_groups) == len(list(learn.model.parameters()))
    assert json.loads((tmp_path / 'r' / 'config.json').read_text())['backbone_lr'] == 1e-4
    _, epochs = read_metrics(tmp_path / 'r')
    assert epochs.lr.tolist() == [1e-3, 1e-3]                                  # the rate a run logs is the heads'
