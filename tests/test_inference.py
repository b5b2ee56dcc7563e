"Edge cases of `mask_lab.inference` kept out of its notebook: multi-head ONNX, exporter fallback, probability files."
import os, sys

import numpy as np
import pandas as pd
import pytest
import timm
import torch

from mask_lab.core import MaskLabError
from mask_lab.data import load_eval
from mask_lab.images import Preprocess
from mask_lab.train import train
from mask_lab import inference
from mask_lab.inference import PROBS_COLUMNS, OnnxPredictor, ensemble_probs, export_onnx, load_probs, load_run, predict, predict_probs, predict_probs_onnx, probs_frame, write_csv_atomic


@pytest.fixture(scope='module')
def setup(tmp_path_factory, demo):
    "Demo data and one tiny multi-head run whose head is random, so that probabilities differ between images."
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp('inference')
    train(demo, out=tmp / 'runs', model='mobilenetv3_small_050', epochs=1, size=(48, 32), layout='multi', name='m', verbose=False)
    f = tmp / 'runs' / 'm' / 'checkpoints' / 'best.pt'
    ck = torch.load(f, weights_only=True)
    ck['model']['head.weight'] = 5 * torch.randn(ck['model']['head.weight'].shape, generator=torch.Generator().manual_seed(0))
    torch.save(ck, f)
    df, _ = load_eval(demo / 'eval')
    return tmp, demo, tmp / 'runs' / 'm', df


def test_multi_head_onnx_matches_pytorch(setup):
    tmp, demo, run, df = setup
    model, cfg = load_run(run, device='cpu')
    assert model.layout == 'multi'
    p = predict_probs(model, df, Preprocess.from_dict(cfg['preprocess']))
    assert p.shape == (len(df), 18) and np.allclose(p.sum(1), 1, atol=1e-5)
    assert p.std(0).max() > 1e-2                      # not the same answer for every image
    path = export_onnx(run, tmp / 'm.onnx')
    p_onnx = predict_probs_onnx(path, df)
    assert np.abs(p_onnx - p).max() < 1e-4
    op = OnnxPredictor(path)
    assert op.meta['mask_lab.layout'] == 'multi' and op.meta['mask_lab.run'] == 'm'
    assert op(np.zeros((1, 3, 48, 32), np.float32)).shape == (1, 18)


def test_exporter_falls_back_to_torchscript(setup, monkeypatch):
    tmp, demo, run, df = setup
    real = inference._onnx_proto
    def no_dynamo(net, x, opset, dynamo):
        if dynamo: raise RuntimeError('simulated torch.export failure')
        return real(net, x, opset, dynamo)
    monkeypatch.setattr(inference, '_onnx_proto', no_dynamo)
    with pytest.warns(UserWarning, match='simulated torch.export failure'):
        path = export_onnx(run, tmp / 'ts.onnx')
    assert OnnxPredictor(path).meta['mask_lab.exporter'] == 'torchscript'


def test_export_refuses_a_model_that_onnx_gets_wrong(setup, monkeypatch):
    tmp, demo, run, df = setup
    monkeypatch.setattr(inference.OnnxPredictor, '__call__', lambda self, x: np.zeros((len(x), 18), np.float32))
    with pytest.raises(MaskLabError, match='differ from PyTorch'):
        export_onnx(run, tmp / 'wrong.onnx', dynamo=False)
    assert not (tmp / 'wrong.onnx').exists() and not list(tmp.glob('wrong.onnx*'))   # neither the file nor its wrong.onnx.tmp


def test_predict_onnx_needs_a_file(tmp_path):
    with pytest.raises(MaskLabError, match='no such ONNX file'): OnnxPredictor(tmp_path / 'none.onnx')


def test_ensemble_aligns_rows_by_image_id(setup):
    tmp, demo, run, df = setup
    predict(run, demo / 'eval', probs_out=tmp / 'p.csv')
    p = load_probs(tmp / 'p.csv')
    shuffled = p.sample(frac=1, random_state=0)
    shuffled.to_csv(tmp / 'shuffled.csv', index=False)
    mean = ensemble_probs([tmp / 'p.csv', tmp / 'shuffled.csv'], out=tmp / 'sub.csv')
    assert mean.ImageID.tolist() == p.ImageID.tolist()
    np.testing.assert_allclose(mean[PROBS_COLUMNS[1:]].to_numpy(), p[PROBS_COLUMNS[1:]].to_numpy(), atol=1e-6)
    sub = pd.read_csv(tmp / 'sub.csv')
    assert sub.columns.tolist() == ['ImageID', 'ans'] and sub.ImageID.tolist() == p.ImageID.tolist()


def test_predict_with_tta_and_two_copies_of_a_run(setup):
    tmp, demo, run, df = setup
    one = predict(run, demo / 'eval', tta='flip', probs_out=tmp / 'a.csv')
    two = predict([run, run], demo / 'eval', tta='flip', probs_out=tmp / 'b.csv')
    assert one.ans.tolist() == two.ans.tolist()
    np.testing.assert_allclose(load_probs(tmp / 'a.csv').iloc[:, 1:].to_numpy(), load_probs(tmp / 'b.csv').iloc[:, 1:].to_numpy(), atol=1e-6)


@pytest.mark.parametrize('edit, message', [
    (lambda d: d.assign(**{PROBS_COLUMNS[1]: d[PROBS_COLUMNS[1]] + 0.5}), 'sum to 1'),
    (lambda d: d.assign(**{PROBS_COLUMNS[2]: np.nan}), 'must all be numbers'),
    (lambda d: d.drop(columns=PROBS_COLUMNS[-1]), 'expected the columns'),
])
def test_load_probs_rejects_bad_files(tmp_path, edit, message):
    p = probs_frame(['a.jpg', 'b.jpg'], np.full((2, 18), 1 / 18, np.float32))
    edit(p).to_csv(tmp_path / 'p.csv', index=False)
    with pytest.raises(MaskLabError, match=message): load_probs(tmp_path / 'p.csv')
    with pytest.raises(MaskLabError, match='no such probability file'): load_probs(tmp_path / 'none.csv')


def test_write_csv_atomic_keeps_the_old_file_on_failure(tmp_path):
    path = write_csv_atomic(pd.DataFrame({'a': [1]}), tmp_path / 'x.csv')
    class Broken(pd.DataFrame):
        def to_csv(self, *a, **k): raise OSError('disk full')
    with pytest.raises(MaskLabError, match='disk full'): write_csv_atomic(Broken({'a': [2]}), path)
    assert pd.read_csv(path).a.tolist() == [1] and [p.name for p in tmp_path.iterdir()] == ['x.csv']
    umask = os.umask(0); os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask        # the permissions of a plainly written file


def test_load_run_names_a_checkpoint_from_a_plain_timm_model(setup, tmp_path):
    tmp, demo, run, df = setup
    ck = torch.load(run / 'checkpoints' / 'best.pt', weights_only=True)
    ck['model'] = timm.create_model('mobilenetv3_small_050', num_classes=18).state_dict()   # pre-FaceNet layout
    (tmp_path / 'old' / 'checkpoints').mkdir(parents=True)
    torch.save(ck, tmp_path / 'old' / 'checkpoints' / 'best.pt')
    with pytest.raises(MaskLabError, match="weights do not fit model 'mobilenetv3_small_050'.*missing"):
        load_run(tmp_path / 'old')


def test_missing_onnxruntime_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 'onnxruntime', None)       # makes `import onnxruntime` fail
    with pytest.raises(MaskLabError, match='pip install onnx onnxruntime onnxscript'): OnnxPredictor(tmp_path / 'm.onnx')
