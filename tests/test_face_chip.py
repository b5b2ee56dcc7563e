"The aligned face chip as a crop: saved with the run, and used the same way by train, predict, ONNX and the galleries."
import json

import numpy as np
import pytest
import torch

from mask_lab import faces
from mask_lab.core import FACE_BOX
from mask_lab.data import load_eval
from mask_lab.images import DLIB_CHIP_TEMPLATE, FACE_POINTS, Preprocess, chip_photo, face_box_array, load_image
from mask_lab.inference import load_run, model_views, predict, predict_probs, with_faces
from mask_lab.train import train


def _with_points(df):
    "`df` with landmarks where its faces are known: dlib's mean face placed in each box (what the faces stage adds on real photos)."
    df = df.copy()
    x1, y1, x2, y2 = (df[c].to_numpy(float)[:, None] for c in FACE_BOX)
    df[FACE_POINTS] = np.stack([x1 + DLIB_CHIP_TEMPLATE[:, 0] * (x2 - x1), y1 + DLIB_CHIP_TEMPLATE[:, 1] * (y2 - y1)], axis=2).reshape(len(df), 10)
    return df


@pytest.fixture(scope='module')
def chip_run(tmp_path_factory, demo):
    "A tiny 1-epoch run with crop='chip' on the demo data (its head then made random), its faces given landmarks by a stand-in for the detector's."
    torch.set_num_threads(1)
    mp = pytest.MonkeyPatch()
    real, calls = faces.face_boxes, []
    def face_boxes(df, *a, **k):
        calls.append(len(df))
        return _with_points(real(df, *a, **k))
    mp.setattr(faces, 'face_boxes', face_boxes)
    out = tmp_path_factory.mktemp('chip') / 'runs'
    train(demo, out=out, model='mobilenetv3_small_050', epochs=1, size=(48, 48), crop='chip', name='c', verbose=False)
    f = out / 'c' / 'checkpoints' / 'best.pt'      # a random head, so that probabilities differ between images and crops
    ck = torch.load(f, weights_only=True)
    ck['model']['head.weight'] = 5 * torch.randn(ck['model']['head.weight'].shape, generator=torch.Generator().manual_seed(0))
    torch.save(ck, f)
    yield out / 'c', calls
    mp.undo()


def test_the_run_records_the_chip_and_predict_uses_it(chip_run, demo):
    run, calls = chip_run
    cfg = json.loads((run / 'config.json').read_text())
    assert cfg['crop'] == 'chip' and cfg['preprocess']['crop'] == 'chip' and cfg['preprocess']['size'] == [48, 48]
    n_train = len(calls)
    assert n_train >= 1                                          # training found (here: was given) each face's landmarks
    sub = predict(run, demo / 'eval', tta=None)
    assert len(calls) > n_train                                  # predict looked the faces up too: the run crops
    model, cfg = load_run(run, device='cpu')
    pre = Preprocess.from_dict(cfg['preprocess'])
    df = with_faces(_with_points(load_eval(demo / 'eval')[0]), pre)
    chip = predict_probs(model, df, pre)
    square = predict_probs(model, df, Preprocess.from_dict({**cfg['preprocess'], 'crop': 'face'}))
    assert np.abs(chip - square).max() > 1e-3                    # the two crops give the model different pixels
    assert (sub.set_index('ImageID').loc[df.ImageID, 'ans'].to_numpy() == chip.argmax(1)).all()   # predict used the chip


def test_views_and_onnx_use_the_chip(chip_run, demo, tmp_path):
    run, _ = chip_run
    model, cfg = load_run(run, device='cpu')
    pre = Preprocess.from_dict(cfg['preprocess'])
    df = _with_points(load_eval(demo / 'eval')[0]).head(4)
    views = model_views(df, pre)
    want = chip_photo(load_image(df.path.iloc[0]), face_box_array(df, 'chip')[0], 48)
    assert views[0].size == (48, 48) and np.array_equal(np.asarray(views[0]), np.asarray(want))
    pytest.importorskip('onnxruntime'); pytest.importorskip('onnx')
    from mask_lab.inference import export_onnx, predict_probs_onnx
    path = export_onnx(run, tmp_path / 'c.onnx')
    assert np.abs(predict_probs_onnx(path, df) - predict_probs(model, df, pre)).max() < 1e-4   # the ONNX file's preprocessing is the run's


def test_evaluate_sees_the_chip(chip_run):
    from mask_lab.evaluate import evaluate_run
    run, calls = chip_run
    n = len(calls)
    out = evaluate_run(run, saliency=0, n_mistakes=4)
    assert len(calls) > n                                        # the validation photos' landmarks were looked up, as in training
    from mask_lab.evaluate import probs_of
    from mask_lab.runs import validation_table
    model, cfg = load_run(run, device='cpu')
    pre = Preprocess.from_dict(cfg['preprocess'])
    valid = _with_points(validation_table(run, cfg=cfg))
    assert np.abs(probs_of(out['preds']) - predict_probs(model, valid, pre)).max() < 1e-5        # evaluate scored the chips
    square = predict_probs(model, valid, Preprocess.from_dict({**cfg['preprocess'], 'crop': 'face'}))
    assert np.abs(probs_of(out['preds']) - square).max() > 1e-3


def test_cli_takes_crop_chip_and_wants_a_square(cli, demo, tmp_path):
    code, err = cli('train', '--data', demo, '--crop', 'chip', '--size', '150', '120', '--out', tmp_path / 'runs')
    assert code != 0 and err.startswith('mask-lab: error:') and "crop='chip' cuts a square chip" in err
    assert not (tmp_path / 'runs').exists()
