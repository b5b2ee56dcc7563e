"""The linear-probe floor of the face trunk: frozen features and a logistic regression, against the same probe on
ImageNet MobileNetV2 features. Prints one JSON object; run by hand.

    nice -n 10 python bench/bench_face_probe.py --faces PATH/TO/utkface/images
    python bench/bench_face_probe.py --smoke          # generated photos, seconds (tests/test_bench.py)

Data: UTKFace's aligned 200x200 photos, ages 18 and over (age and gender in the file names; each photo is its own
person). One seeded sample (`--seed`, default 0), stratified by gender x age group (<30, 30-59, 60+): `--train`
photos (1,000) to fit the probe, `--test` (500) to score it. How they are fed: UTKFace's photos are already aligned
tight crops (the face fills the frame, eyes level), so each is resized whole, bilinear, to the network's input: the
face trunk's 150x150 and MobileNetV2's 160x160. No detector and no chip: `crop='chip'` is for photos framed like
the competition's, and UTKFace's own alignment is close to dlib's chip already.

Features, each network frozen in eval mode, on one CPU thread per process:
- `dlib_resnet29` (dlib's face-recognition ResNet, weights from the `face-recognition-models` package): the 256-D
  pooled features before its last layer, and its 128-D embedding; dlib's normalisation (`pretrained_cfg`);
- `mobilenetv2_100` with the ImageNet weights of its installed package (`weights='package'`, as `10_model` loads
  them): the 1280-D pooled features, ImageNet normalisation.
Probe: scikit-learn's `LogisticRegression` (lbfgs, C=1, max_iter=3000) on standardised features, one for gender,
one for the age group, one for the six gender x age-group classes; gender x age-group macro F1 with a 95% bootstrap
interval over test people (`mask_lab.metrics.bootstrap_macro_f1`, 1,000 resamples, seed 0). Smoke mode draws
generated faces (`mask_lab.demo_data.draw_face`), 36 to train and 18 to test.
"""
from __future__ import annotations
import argparse, json, os, sys, time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from mask_lab.core import age_group  # noqa: E402
from mask_lab.images import load_image  # noqa: E402
from mask_lab.metrics import bootstrap_macro_f1  # noqa: E402


def utkface_sample(images: Path, n_train: int, n_test: int, seed: int) -> tuple[pd.DataFrame, int]:
    "`n_train + n_test` UTKFace photos aged 18+ (path, gender, age, group, split), stratified by gender x age group; and the unparsable names."
    rows, bad = [], 0
    for p in sorted(images.glob('*.jpg')):
        parts = p.name.split('_')
        if len(parts) < 4 or not all(x.isdigit() for x in parts[:3]) or parts[1] not in '01': bad += 1; continue
        if int(parts[0]) >= 18: rows.append(dict(path=str(p), gender=int(parts[1]), age=int(parts[0])))
    df = pd.DataFrame(rows)
    df['group'] = age_group(df.age)
    from sklearn.model_selection import train_test_split
    strata = df.gender * 3 + df.group
    pick, _ = train_test_split(df, train_size=n_train + n_test, stratify=strata, random_state=seed)
    tr, te = train_test_split(pick, train_size=n_train, stratify=pick.gender * 3 + pick.group, random_state=seed)
    return pd.concat([tr.assign(split='train'), te.assign(split='test')], ignore_index=True), bad


def generated_sample(folder: Path, n_train: int, n_test: int, seed: int) -> pd.DataFrame:
    "Generated faces of random gender and adult age, saved as 200x200 JPEGs in `folder` (smoke mode)."
    from mask_lab.demo_data import draw_face
    rng, rows = np.random.default_rng(seed), []
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n_train + n_test):
        g, age = i % 2, int((20, 45, 70)[(i // 2) % 3] + rng.integers(0, 8))
        path = folder / f'{i:04d}.jpg'
        draw_face(rng, g, age, 2, 0, size=(300, 400)).crop((0, 50, 300, 350)).resize((200, 200)).save(path, quality=90)
        rows.append(dict(path=str(path), gender=g, age=age, split='train' if i < n_train else 'test'))
    df = pd.DataFrame(rows)
    df['group'] = age_group(df.age)
    return df


def features(net, paths, size: int, mean, std, batch: int = 50, heads=('pooled',)) -> dict[str, np.ndarray]:
    "Frozen features of each photo resized whole to `size` x `size`: 'pooled' (before the last layer) and 'embedding' (its output)."
    out = {h: [] for h in heads}
    m, s = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    with torch.inference_mode():
        for i in range(0, len(paths), batch):
            x = torch.stack([torch.from_numpy(np.array(load_image(p))).permute(2, 0, 1) for p in paths[i:i + batch]]).float() / 255
            x = (F.interpolate(x, size=(size, size), mode='bilinear', antialias=True, align_corners=False) - m) / s
            pooled = net.forward_head(net.forward_features(x), pre_logits=True)
            if 'pooled' in out: out['pooled'].append(pooled.numpy())
            if 'embedding' in out: out['embedding'].append(net.fc(pooled).numpy())
    return {h: np.concatenate(v) for h, v in out.items()}


def probe(x_train, x_test, df: pd.DataFrame) -> dict:
    "Logistic-regression probes on standardised features: gender and age-group accuracy, gender x age-group macro F1 and its interval."
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    tr, te = df[df.split == 'train'], df[df.split == 'test']
    fit = lambda y: make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=3000)).fit(x_train, y).predict(x_test)
    joint_tr, joint_te = tr.gender * 3 + tr.group, (te.gender * 3 + te.group).to_numpy()
    joint = fit(joint_tr)
    lo, hi = bootstrap_macro_f1(joint_te, joint, np.arange(len(te)))
    return dict(gender_acc=round(float(accuracy_score(te.gender, fit(tr.gender))), 3),
                age_group_acc=round(float(accuracy_score(te.group, fit(tr.group))), 3),
                gender_x_age_macro_f1=round(float(f1_score(joint_te, joint, average='macro')), 3),
                gender_x_age_macro_f1_95ci=[round(lo, 3), round(hi, 3)])


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--faces', type=Path, help="UTKFace's images folder")
    ap.add_argument('--train', type=int, default=1000)
    ap.add_argument('--test', type=int, default=500)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--smoke', action='store_true', help='generated faces, a few seconds')
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    import timm
    import mask_lab.face_trunk  # noqa: F401  (registers dlib_resnet29 with timm)
    from mask_lab.model import load_timm_model
    if a.smoke:
        import tempfile
        df, bad, source = generated_sample(Path(tempfile.mkdtemp()) / 'faces', 36, 18, a.seed), 0, 'generated faces (mask_lab.demo_data.draw_face)'
    else:
        if a.faces is None or not a.faces.is_dir(): ap.error('--faces: the UTKFace images folder is needed (or --smoke)')
        df, bad = utkface_sample(a.faces, a.train, a.test, a.seed)
        source = 'UTKFace, ages 18+'
    paths = {s: df.path[df.split == s].tolist() for s in ('train', 'test')}
    nets = {'dlib_resnet29': (timm.create_model('dlib_resnet29', pretrained=True).eval(), 150, ('pooled', 'embedding')),
            'mobilenetv2_100': (load_timm_model('mobilenetv2_100', 'package').eval(), 160, ('pooled',))}
    results = {}
    for name, (net, size, heads) in nets.items():
        cfg = net.pretrained_cfg
        start, cpu = time.perf_counter(), time.process_time()
        f = {s: features(net, paths[s], size, cfg['mean'], cfg['std'], heads=heads) for s in paths}
        seconds, cpu_s = time.perf_counter() - start, time.process_time() - cpu
        for h in heads:
            dim = f['train'][h].shape[1]
            results[f'{name} {h} {dim}-D'] = dict(**probe(f['train'][h], f['test'][h], df), size=size)
        results[f'{name} {heads[0]} {f["train"][heads[0]].shape[1]}-D']['ms_per_photo_1_thread'] = round(1000 * seconds / len(df), 1)
        results[f'{name} {heads[0]} {f["train"][heads[0]].shape[1]}-D']['cpu_s_features'] = round(cpu_s, 1)
    out = dict(data=source, train=len(paths['train']), test=len(paths['test']), seed=a.seed, unparsable_names=bad,
               fed='each photo resized whole (bilinear, antialiased) to the network input; no detector, no chip',
               probe='StandardScaler + LogisticRegression(C=1, max_iter=3000); 95% interval: bootstrap over test people (1,000, seed 0)',
               results=results)
    print(json.dumps(out, indent=1))
    return out


if __name__ == '__main__':
    main()
