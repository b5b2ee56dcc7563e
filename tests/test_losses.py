"Checks of `mask_lab.losses` against numbers written out by hand, torch's own losses and scikit-learn's F1."
import json, math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import f1_score

from mask_lab.core import MaskLabError, decode_class
from mask_lab.losses import LOSSES, ce_loss, class_weights_from_labels, f1_loss, focal_loss, format_loss_spec, head_targets, make_loss, parse_loss_spec

# Two examples over three classes: logits (2, 0, -1) with class 0, logits (0, 1, 0) with class 2.
X = torch.tensor([[2., 0., -1.], [0., 1., 0.]])
Y = torch.tensor([0, 2])
LSE0, LSE1 = math.log(math.exp(2) + 1 + math.exp(-1)), math.log(2 + math.e)
NLL0, NLL1 = LSE0 - 2, LSE1
P0, P1 = math.exp(2) / (math.exp(2) + 1 + math.exp(-1)), 1 / (2 + math.e)   # probability of the true class


def close(a, b, tol=1e-5):
    return abs(float(a) - float(b)) <= tol * max(1.0, abs(float(b)))


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(32, 18, generator=g), torch.randn(32, 8, generator=g), torch.randint(0, 18, (32,), generator=g)


# ---------------------------------------------------------------- base losses by hand

def test_ce_by_hand():
    assert close(ce_loss(X, Y), (NLL0 + NLL1) / 2)
    assert close(ce_loss(X, Y, weight=torch.tensor([1., 2., 3.])), (NLL0 + 3 * NLL1) / 4)


def test_ce_label_smoothing_by_hand_and_vs_torch():
    mean0, mean1 = LSE0 - (2 + 0 - 1) / 3, LSE1 - 1 / 3   # mean of -log p over the three classes
    expected = (0.9 * NLL0 + 0.1 * mean0 + 0.9 * NLL1 + 0.1 * mean1) / 2
    assert close(ce_loss(X, Y, label_smoothing=0.1), expected)
    assert close(ce_loss(X, Y, label_smoothing=0.1), torch.nn.CrossEntropyLoss(label_smoothing=0.1)(X, Y))
    assert not close(expected, (NLL0 + NLL1) / 2)


def test_focal_by_hand():
    assert close(focal_loss(X, Y, gamma=2), ((1 - P0) ** 2 * NLL0 + (1 - P1) ** 2 * NLL1) / 2)
    assert close(focal_loss(X, Y, gamma=1, weight=torch.tensor([1., 2., 3.])), ((1 - P0) * NLL0 + 3 * (1 - P1) * NLL1) / 4)


@pytest.mark.parametrize('kw', [{}, {'label_smoothing': 0.1}, {'weight': 'w'}, {'weight': 'w', 'label_smoothing': 0.2}])
@pytest.mark.parametrize('soft', [False, True])
def test_focal_gamma0_is_ce(batch, kw, soft):
    x, _, y = batch
    kw = {k: (torch.linspace(0.2, 3, 18) if v == 'w' else v) for k, v in kw.items()}
    t = torch.softmax(torch.randn(32, 18), 1) if soft else y
    assert close(focal_loss(x, t, gamma=0, **kw), ce_loss(x, t, **kw))
    assert not close(focal_loss(x, t, gamma=2, **kw), ce_loss(x, t, **kw))


def test_focal_downweights_easy_examples():
    easy = torch.tensor([[math.log(0.9), math.log(0.1)]])
    hard = torch.tensor([[math.log(0.1), math.log(0.9)]])
    t = torch.tensor([0])
    assert close(focal_loss(easy, t, gamma=2) / ce_loss(easy, t), (1 - 0.9) ** 2)
    assert close(focal_loss(hard, t, gamma=2) / ce_loss(hard, t), (1 - 0.1) ** 2)


def test_f1_by_hand():
    logp = torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1]]).log()
    # class 0: 2*0.6 / (0.8 + 1); class 1: 2*0.7 / (1.0 + 1); class 2 absent from the targets: not averaged
    assert close(f1_loss(logp, torch.tensor([0, 1])), 1 - (1.2 / 1.8 + 1.4 / 2.0) / 2)


def test_f1_perfect_and_uniform():
    y = torch.tensor([0, 1, 2, 3])
    assert f1_loss(30 * F.one_hot(y, 4).float(), y) < 1e-6
    # uniform over 4 classes, one example each: F1_c = 2 * (1/4) / (4/4 + 1) = 1/4
    assert close(f1_loss(torch.zeros(4, 4), y), 1 - 0.25)


def test_f1_matches_sklearn_for_hard_predictions():
    yt = np.array([0, 0, 1, 1, 1, 2, 3, 3, 5])
    yp = np.array([0, 1, 1, 1, 2, 2, 3, 0, 4])
    loss = f1_loss(60 * F.one_hot(torch.from_numpy(yp), 6).float(), torch.from_numpy(yt))
    assert close(1 - loss, f1_score(yt, yp, average='macro', labels=np.unique(yt)))


# ---------------------------------------------------------------- targets

def test_head_targets_hard_and_soft():
    y = torch.arange(18)
    ht = head_targets(y)
    for h, codes in zip(('mask', 'gender', 'age'), decode_class(np.arange(18))):
        assert ht[h].tolist() == codes.tolist()
        assert torch.equal(head_targets(F.one_hot(y, 18).float())[h], F.one_hot(ht[h], {'mask': 3, 'gender': 2, 'age': 3}[h]).float())
    mix = head_targets(0.25 * F.one_hot(torch.tensor([17]), 18).float() + 0.75 * F.one_hot(torch.tensor([0]), 18).float())
    assert mix['mask'].tolist() == [[0.75, 0.0, 0.25]] and mix['gender'].tolist() == [[0.75, 0.25]]
    assert mix['age'].tolist() == [[0.75, 0.0, 0.25]]


@pytest.mark.parametrize('layout', ['single', 'multi'])
@pytest.mark.parametrize('spec', ['ce', 'focal', 'f1', '0.6*focal+0.4*f1'])
def test_one_hot_soft_targets_equal_hard(batch, layout, spec):
    x18, x8, y = batch
    x = x18 if layout == 'single' else x8
    cw = torch.linspace(0.5, 2, 18) if layout == 'single' else {'age': torch.tensor([1., 2., 4.])}
    loss = make_loss(spec, layout, label_smoothing=0.1, class_weights=cw)
    assert close(loss(x, F.one_hot(y, 18).float()), loss(x, y))


# ---------------------------------------------------------------- make_loss

def test_weighted_sums(batch):
    x, _, y = batch
    assert close(make_loss('ce+f1')(x, y), ce_loss(x, y) + f1_loss(x, y))
    assert close(make_loss('0.7*ce+0.3*f1')(x, y), 0.7 * ce_loss(x, y) + 0.3 * f1_loss(x, y))
    assert close(make_loss('focal', focal_gamma=1.5)(x, y), focal_loss(x, y, gamma=1.5))


def test_multi_head_is_sum_of_head_ces(batch):
    _, x, y = batch
    m, g, a = (torch.from_numpy(c) for c in decode_class(y.numpy()))
    ces = F.cross_entropy(x[:, :3], m), F.cross_entropy(x[:, 3:5], g), F.cross_entropy(x[:, 5:], a)
    loss = make_loss('ce', 'multi')
    assert close(loss(x, y), sum(ces))
    assert all(close(loss.parts[h], c) for h, c in zip(('mask', 'gender', 'age'), ces))
    assert close(make_loss('ce', 'multi', head_weights={'age': 2.0, 'mask': 0.5})(x, y), 0.5 * ces[0] + ces[1] + 2 * ces[2])


def test_per_head_specs_repr_and_json_round_trip(batch):
    _, x, y = batch
    loss = make_loss({'mask': 'ce', 'gender': 'ce', 'age': 'focal+0.5*f1'}, 'multi')
    assert repr(loss) == 'Loss(multi: mask=ce, gender=ce, age=focal+0.5*f1, gamma=2)'
    assert repr(make_loss('1.0*ce')) == 'Loss(single: ce)'
    cfg = json.loads(json.dumps(make_loss('focal', 'multi', label_smoothing=0.1, class_weights={'age': [1, 2, 3]},
                                          head_weights={'age': 2}).to_dict()))
    again = make_loss(**cfg)
    assert again.to_dict() == cfg
    assert close(again(x, y), make_loss('focal', 'multi', label_smoothing=0.1, class_weights={'age': torch.tensor([1., 2., 3.])},
                                        head_weights={'age': 2})(x, y))


@pytest.mark.parametrize('layout', ['single', 'multi'])
@pytest.mark.parametrize('spec', ['ce', 'focal', 'f1', 'ce+f1'])
def test_gradients_are_finite(batch, layout, spec):
    x18, x8, y = batch
    for scale in (1.0, 200.0):
        x = ((x18 if layout == 'single' else x8) * scale).requires_grad_()
        make_loss(spec, layout, focal_gamma=0.5, label_smoothing=0.1)(x, y).backward()
        assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_spec_parsing():
    assert parse_loss_spec('0.7*ce + 0.3*f1') == [(0.7, 'ce'), (0.3, 'f1')]
    assert format_loss_spec([(1.0, 'focal'), (0.5, 'f1')]) == 'focal+0.5*f1'
    assert set(LOSSES) == {'ce', 'focal', 'f1'}


@pytest.mark.parametrize('args, message', [
    (('dice',), "unknown loss 'dice' in spec 'dice'; losses: 'ce', 'focal', 'f1'"),
    (('ce+',), "term '' is not NAME or WEIGHT*NAME"),
    (('ce*2',), "term 'ce*2' is not NAME or WEIGHT*NAME"),
    (('-1*ce',), 'is not NAME or WEIGHT*NAME'),
    ((3,), 'loss spec must be a string'),
    (({'age': 'f1'},), "needs layout 'multi'"),
    (({'age': 'focall'}, 'multi'), "unknown loss 'focall'"),
    (({'ages': 'f1'}, 'multi'), "unknown head(s) ['ages']"),
    (('ce', 'triple'), "'single' or 'multi'"),
])
def test_bad_specs(args, message):
    with pytest.raises(MaskLabError) as e: make_loss(*args)
    assert message in str(e.value)


def test_bad_inputs(batch):
    x18, x8, y = batch
    with pytest.raises(MaskLabError, match=r'class_weights must have 18 values'): make_loss(class_weights=[1.0] * 17)
    with pytest.raises(MaskLabError, match=r"class_weights\['gender'\] must have 2 values"):
        make_loss(layout='multi', class_weights={'gender': [1.0] * 3})
    with pytest.raises(MaskLabError, match=r'expects logits of shape \(B, 18\), got \(32, 8\)'): make_loss()(x8, y)
    with pytest.raises(MaskLabError, match=r'soft targets \(B, 18\)'): make_loss('ce', 'multi')(x8, F.one_hot(y, 18)[:, :8].float())


# ---------------------------------------------------------------- class weights

def test_class_weights_from_known_labels():
    labels = np.array([0, 0, 0, 0, 6, 6, 17, 1])   # 8 labels; class counts 4, 2, 1, 1; 14 classes unseen
    raw = np.full(18, 8 / 18)                       # unseen classes: the largest seen weight, 8 / (18 * 1)
    raw[0], raw[6] = 8 / (18 * 4), 8 / (18 * 2)
    w = class_weights_from_labels(labels)
    assert np.allclose(w.numpy(), raw / raw.mean(), atol=1e-6) and close(w.mean(), 1.0)
    heads = class_weights_from_labels(labels, layout='multi')
    mask_counts = np.array([5, 2, 1])                # classes 0 and 1 -> wear; 6 -> incorrect; 17 -> not worn
    mask_raw = 8 / (3 * mask_counts)
    assert np.allclose(heads['mask'].numpy(), mask_raw / mask_raw.mean(), atol=1e-6)
    gender_counts = np.array([7, 1])                 # class 17 is female
    assert np.allclose(heads['gender'].numpy(), (8 / (2 * gender_counts)) / (8 / (2 * gender_counts)).mean(), atol=1e-6)
    age_counts = np.array([6, 1, 1])                  # classes 0, 6 -> <30; 1 -> 30-59; 17 -> >=60
    assert np.allclose(heads['age'].numpy(), (8 / (3 * age_counts)) / (8 / (3 * age_counts)).mean(), atol=1e-6)
    assert np.allclose(class_weights_from_labels(labels, power=0).numpy(), 1.0)


def test_class_weights_errors():
    for bad, message in (([], 'at least one label'), ([3, 21], 'classes 0..17 or mask-only labels'), ([-1], 'classes 0..17 or mask-only labels'), ([1.5], 'integer classes')):
        with pytest.raises(MaskLabError) as e: class_weights_from_labels(bad)
        assert message in str(e.value)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
@pytest.mark.parametrize('layout', ['single', 'multi'])
def test_cuda_and_autocast(layout):
    g = torch.Generator().manual_seed(1)
    n = 18 if layout == 'single' else 8
    x, y = torch.randn(64, n, generator=g), torch.randint(0, 18, (64,), generator=g)
    cw = class_weights_from_labels(y.numpy(), layout)
    loss = make_loss('0.6*focal+0.4*f1', layout, label_smoothing=0.1, class_weights=cw)   # weights stay on the CPU
    expected = loss(x, y)
    xc = x.cuda().requires_grad_()
    assert close(loss(xc, y.cuda()), expected, 1e-4)
    with torch.autocast('cuda', dtype=torch.bfloat16):
        out = loss(xc @ torch.eye(n, device='cuda'), y.cuda())
    out.backward()
    assert close(out, expected, 2e-2) and torch.isfinite(xc.grad).all()
