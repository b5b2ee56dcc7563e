"""Smoke runs of the benchmarks in bench/: each on tiny settings (`--smoke`), in this process, so that a benchmark can
never break unnoticed. They check that each runs and reports its figures, not the figures themselves."""
import importlib.util, json
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parent.parent / 'bench'


def run_smoke(name: str, monkeypatch, *options) -> dict:
    "`python bench/NAME.py --smoke [OPTIONS]`, in this process; its JSON result as a dict."
    monkeypatch.setenv('IN_TEST', '1')      # restored after the test, whatever the benchmark sets
    monkeypatch.setenv('TQDM_DISABLE', '1')
    threads = torch.get_num_threads()
    spec = importlib.util.spec_from_file_location(f'bench_{name}', BENCH / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try: return module.main(['--smoke', *options])
    finally: torch.set_num_threads(threads)


def test_bench_loader(monkeypatch):
    out = run_smoke('bench_loader', monkeypatch)
    runs = out['runs']['workers=0']
    assert set(runs) == {'baseline', 'none', 'ram', 'disk', 'limit'}
    assert all(len(r['images_per_s']) == 2 and min(r['images_per_s']) > 0 for r in runs.values())
    assert set(out['targets']) == {'workers=0 ram', 'workers=0 disk'} and len(out['loadavg_before_after']) == 6


def test_bench_inference(monkeypatch):
    r = run_smoke('bench_inference', monkeypatch)['results'][0]
    assert r['max_abs_diff']['batched_vs_per_image'] < 1e-4     # the per-image loop and predict agree on a three-head model
    assert r['max_abs_diff']['onnx_vs_torch'] < 1e-4
    assert min(r['images_per_s'].values()) > 0 and 'target_batched_ge_3x_per_image' in r


def test_bench_fit(monkeypatch):
    r = run_smoke('bench_fit', monkeypatch)['results'][0]
    assert r['loader'] == 'real' and r['steps'] > 0 and r['bare_wall_s'][0] > 0 and r['fit_wall_s'][0] > 0
    assert 'Checkpoint' in r['hooks'] and 'target_met_wall' in r
    r = run_smoke('bench_fit', monkeypatch, '--loader', 'memory')['results'][0]   # the hooks alone, over the bare loop's batches
    assert r['loader'] == 'memory' and r['fit_wall_s'][0] > 0


def test_bench_train_step(monkeypatch):
    out = run_smoke('bench_train_step', monkeypatch)
    assert len(out['results']) == 4 and all(r['wall_seconds_per_step'] > 0 for r in out['results'])


def test_bench_live_chart(monkeypatch):
    out = run_smoke('bench_live_chart', monkeypatch)
    assert out['chart_shown'] and out['draws_per_fit'] >= 1 and len(out['fit_s_with']) == 1


def test_bench_augment(monkeypatch):
    r = run_smoke('bench_augment', monkeypatch)['results'][0]
    assert set(r['step_ms']) == {'jpeg', 'blur', 'erase', 'colour'}
    assert all(v > 0 for v in r['ms_per_batch'].values()) and r['batched_strong_vs_per_image'] > 0


def test_device_check(monkeypatch, tmp_path):
    out = run_smoke('device_check', monkeypatch, '--out', str(tmp_path / 'device_check.json'))
    parts = out['parts']
    assert not out['failed'], {k: parts[k]['error'] for k in out['failed']}
    assert set(parts) == {'environment', 'install', 'imports', 'resume', 'amp', 'channels_last', 'onnx', 'torchrun', 'speed_train',
                          'loader_wait', 'augment', 'predict_speed', 'time_to_f1'}
    assert all(p['seconds'] >= 0 for p in parts.values()) and parts['install']['skipped'] == 'smoke'
    assert parts['environment']['torch'] and parts['imports']['dashboard_modules_imported_by_training'] == []
    assert parts['resume']['bit_equal'] and parts['channels_last']['within_tolerance'] and parts['onnx']['agree']
    assert min(parts['speed_train']['images_per_s'].values()) > 0
    assert all(0 <= parts['loader_wait'][k]['wait_share'] <= 1 for k in ('host', 'resident'))   # the cache kept on the device too
    assert json.loads((tmp_path / 'device_check.json').read_text())['parts'].keys() == parts.keys()   # the file holds the same


def test_device_check_records_a_failing_part_and_goes_on(monkeypatch, tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location('device_check', BENCH / 'device_check.py')
    module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)
    def broken(c): raise ValueError('no such kernel')
    monkeypatch.setitem(module.PARTS, 'channels_last', broken)
    out = module.main(['--smoke', '--only', 'channels_last', 'augment', '--out', str(tmp_path / 'd.json')])
    assert out['failed'] == ['channels_last'] and out['parts']['augment']['ok']
    error = out['parts']['channels_last']['error']
    assert (error['type'], error['message']) == ('ValueError', 'no such kernel') and 'raise ValueError' in '\n'.join(error['traceback'])


def test_bench_dedup(monkeypatch):
    r = run_smoke('bench_dedup', monkeypatch)
    assert (r['within']['a']['exact_extra'], r['within']['a']['near_pairs'], r['within']['b']['exact_groups']) == (1, 1, 0)
    assert r['across']['a+b']['exact_groups'] == 1 and r['sources']['a']['photos'] == 30
    assert r['leak_probe']['photos_with_a_near_duplicate'] == 2 and len(r['leak_probe']['leaky']['macro_f1_by_seed']) == 3


def test_bench_label_issues(monkeypatch):
    out = run_smoke('bench_label_issues', monkeypatch, '--retrain')
    s = out['seeds'][0]
    r = s['retrain']   # noisy, corrected and clean labels, each model scored on the same fresh people
    assert r['test_people'] == 10 and all(0 <= r[f'{k}_macro_f1'] <= 1 for k in ('noisy', 'corrected', 'clean'))
    assert r['clean_minus_noisy'][1][0] <= r['clean_minus_noisy'][0] <= r['clean_minus_noisy'][1][1]
    assert s['photos'] == 140 and {s[k]['planted'] for k in ('gender', 'age')} == {1} and s['mask']['planted'] == 8   # 5% of each (4 swaps of 2 photos)
    assert all(0 <= s[k][m] <= 1 for k in ('mask', 'gender', 'age') for m in ('precision_at_k', 'recall_at_2k'))
    assert 'target_precision_at_k_ge_0.8_every_seed' in out


def test_bench_face_probe(monkeypatch):
    from mask_lab.core import MaskLabError
    from mask_lab.face_trunk import dlib_weights_file
    try: dlib_weights_file()
    except MaskLabError as e: pytest.skip(f'needs the weights package: {e}')
    out = run_smoke('bench_face_probe', monkeypatch)
    assert out['train'] == 36 and out['test'] == 18
    assert set(out['results']) == {'dlib_resnet29 pooled 256-D', 'dlib_resnet29 embedding 128-D', 'mobilenetv2_100 pooled 1280-D'}
    for r in out['results'].values():
        lo, hi = r['gender_x_age_macro_f1_95ci']
        assert 0 <= lo <= r['gender_x_age_macro_f1'] <= hi <= 1 and 0 <= r['gender_acc'] <= 1 and 0 <= r['age_group_acc'] <= 1
