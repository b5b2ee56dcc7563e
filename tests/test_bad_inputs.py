"""Bad inputs that tests/test_data.py does not already cover: odd image files, odd csv files, label corrections,
and bad settings given to `train`, `inference.load_run` and the `mask-lab` command.

Each case ends in a clear `MaskLabError` (or a one-line `mask-lab: error:`) naming the file and the reason, or
in a row of the problems table when the user asked to skip; never a traceback and never a silent wrong label."""
import struct
import zlib

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from mask_lab.core import IMAGE_STEMS, MaskLabError
from mask_lab.core import DataProblemsError
from mask_lab.data import apply_corrections, load_corrections, load_eval, load_train
from mask_lab.images import load_image
from mask_lab.inference import load_run
from mask_lab.train import train

GOOD = ['000001_female_Asian_45', '000002_male_Asian_19', '000003_female_Asian_61']
TINY = dict(model='mobilenetv3_small_050', layout='single', size=(48, 32), epochs=1, verbose=False)


def make_train(root, folders=GOOD):
    images = root / 'train' / 'images'
    for f in folders:
        (images / f).mkdir(parents=True, exist_ok=True)
        for i, stem in enumerate(IMAGE_STEMS): Image.new('RGB', (8, 8), (30 * i, 90, 160)).save(images / f / f'{stem}.jpg')
    pd.DataFrame({'path': list(folders)}).to_csv(root / 'train' / 'train.csv', index=False)
    return root


def put(root, folder, name, save):
    "Replace the photo `folder/name` (any extension) by the one `save(path)` writes; returns its path."
    d = root / 'train' / 'images' / folder
    for p in d.glob(f'{name.split(".")[0]}.*'): p.unlink()
    save(d / name)
    return d / name


def huge_png(path, width, height):
    "A small PNG whose header claims `width` x `height` pixels (PIL judges the size from the header)."
    Image.new('RGB', (4, 4)).save(path)
    png = bytearray(path.read_bytes())
    png[16:24] = struct.pack('>II', width, height)
    png[29:33] = struct.pack('>I', zlib.crc32(bytes(png[12:29])))
    path.write_bytes(bytes(png))


def exif_rotated(path):
    im = Image.new('RGB', (40, 30), (200, 30, 30))
    exif = im.getexif(); exif[0x0112] = 6   # orientation: rotate 90 degrees clockwise to view
    im.save(path, exif=exif)


# ---------------------------------------------------------------- image files that decode, and must load right

@pytest.mark.parametrize('name,save,pixel', [
    ('mask2.png', lambda p: Image.new('RGBA', (8, 8), (250, 20, 10, 255)).save(p), (250, 20, 10)),
    ('mask2.png', lambda p: Image.new('L', (8, 8), 77).save(p), (77, 77, 77)),
    ('mask2.jpg', lambda p: Image.new('CMYK', (8, 8), (0, 255, 0, 0)).save(p, quality=100), (255, 0, 255)),
    ('mask2.png', lambda p: Image.new('P', (8, 8), 3).save(p), None),
])
def test_other_colour_modes_load_as_rgb(tmp_path, name, save, pixel):
    path = put(make_train(tmp_path), GOOD[0], name, save)
    df, problems = load_train(tmp_path, on_problem='raise')
    assert len(problems) == 0 and str(path) in df['path'].tolist()
    im = load_image(path)
    assert im.mode == 'RGB' and im.size == (8, 8)
    if pixel: assert np.abs(np.subtract(im.getpixel((4, 4)), pixel)).max() <= 2


def test_exif_rotated_photo_loads_upright(tmp_path):
    path = put(make_train(tmp_path), GOOD[0], 'normal.jpg', exif_rotated)
    assert len(load_train(tmp_path)[1]) == 0
    assert Image.open(path).size == (40, 30)          # as stored
    assert load_image(path).size == (30, 40)          # as meant to be seen
    w, h = load_image(path, size=(8, 6)).size        # a reduced JPEG draft, still upright and no smaller than asked
    assert w < h and h >= 8 and w >= 6


def test_big_jpeg_decodes_cheaply(tmp_path):
    path = put(make_train(tmp_path), GOOD[1], 'mask1.jpg',
               lambda p: Image.new('RGB', (8000, 6000), (10, 120, 30)).save(p, quality=30))
    df, problems = load_train(tmp_path)
    assert len(problems) == 0 and str(path) in df['path'].tolist()
    im = load_image(path, size=(64, 48))              # JPEG draft: decoded at 1/8 scale, not 48M pixels
    assert im.size == (1000, 750) and im.mode == 'RGB'


@pytest.mark.filterwarnings('ignore::PIL.Image.DecompressionBombWarning')
@pytest.mark.parametrize('width,height', [(10_000, 10_000), (20_000, 10_000)])   # PIL warns above 89M, refuses above 179M
def test_image_above_the_decompression_bomb_limit_is_a_problem(tmp_path, width, height):
    path = put(make_train(tmp_path), GOOD[2], 'mask3.png', lambda p: huge_png(p, width, height))
    df, problems = load_train(tmp_path)
    assert problems['path'].tolist() == [str(path)]
    assert problems['reason'][0].startswith('image too large (')
    assert f'{width * height:,}' in problems['reason'][0] or str(width * height) in problems['reason'][0]
    assert GOOD[2][:6] not in set(df['person'])
    with pytest.raises(DataProblemsError, match='image too large'): load_train(tmp_path, on_problem='raise')
    with pytest.raises(MaskLabError, match=f'{path}: cannot read image'): load_image(path)


def test_16_bit_png_is_a_problem_not_a_white_photo(tmp_path):
    path = put(make_train(tmp_path), GOOD[0], 'mask4.png',
               lambda p: Image.fromarray(np.full((8, 8), 40_000, np.uint16)).save(p))
    assert Image.open(path).mode == 'I;16'
    df, problems = load_train(tmp_path)
    assert problems.values.tolist() == [[str(path), '16-bit image (mode I;16) would load clipped to white; save it as 8-bit RGB']]
    assert GOOD[0][:6] not in set(df['person'])


def test_load_image_scales_16_bit_to_8_bit(tmp_path):
    Image.fromarray(np.full((8, 8), 40_000, np.uint16)).save(tmp_path / 'deep.png')
    assert load_image(tmp_path / 'deep.png').getpixel((0, 0)) == (156, 156, 156)  # 40000 >> 8


def test_gif_is_an_unknown_extension(tmp_path):
    path = put(make_train(tmp_path), GOOD[1], 'mask1.gif', lambda p: Image.new('P', (8, 8)).save(p))
    problems = load_train(tmp_path)[1]
    assert dict(zip(problems['path'], problems['reason']))[str(path)] == "unknown image extension '.gif' (expected .jpg, .jpeg, .png)"


def test_skip_and_raise_agree_on_the_problem_list(tmp_path):
    make_train(tmp_path)
    put(tmp_path, GOOD[0], 'mask4.png', lambda p: Image.fromarray(np.zeros((8, 8), np.uint16)).save(p))
    put(tmp_path, GOOD[1], 'normal.jpg', lambda p: p.write_text('not a photo'))
    df, problems = load_train(tmp_path, on_problem='skip')
    with pytest.raises(DataProblemsError) as e: load_train(tmp_path, on_problem='raise')
    assert e.value.problems.values.tolist() == problems.values.tolist() and len(problems) == 2
    assert sorted(df['person'].unique()) == ['000003']


# ---------------------------------------------------------------- csv files

def make_eval(root, names=('a.jpg', 'b.jpg', 'c.jpg')):
    (root / 'eval' / 'images').mkdir(parents=True)
    for n in names: Image.new('RGB', (8, 8)).save(root / 'eval' / 'images' / n)
    return root


def test_info_csv_with_other_columns_and_unlisted_images(tmp_path):
    make_eval(tmp_path, ('a.jpg', 'b.jpg', 'c.jpg', 'extra.jpg'))
    pd.DataFrame({'note': ['x', 'y', 'z'], 'ImageID': ['c.jpg', 'a.jpg', 'b.jpg'], 'ans': [0, 0, 0], 'w': [1, 2, 3]}
                 ).to_csv(tmp_path / 'eval' / 'info.csv', index=False)
    df, problems = load_eval(tmp_path, on_problem='raise')
    assert df.columns.tolist() == ['ImageID', 'path', 'ans'] and df['ImageID'].tolist() == ['c.jpg', 'a.jpg', 'b.jpg']


def test_info_csv_with_non_integer_answers(tmp_path):
    make_eval(tmp_path)
    pd.DataFrame({'ImageID': ['a.jpg', 'b.jpg'], 'ans': ['0', 'x']}).to_csv(tmp_path / 'eval' / 'info.csv', index=False)
    with pytest.raises(MaskLabError, match=f'column ans of {tmp_path / "eval" / "info.csv"} must hold integers'):
        load_eval(tmp_path)


def test_train_csv_with_bom_and_spaces(tmp_path):
    make_train(tmp_path)
    (tmp_path / 'train' / 'train.csv').write_text('\ufeffid, path \n' + ''.join(f'x, {f} \n' for f in GOOD))
    df, problems = load_train(tmp_path)
    assert len(problems) == 0 and len(df) == 21


def test_unparsable_train_csv(tmp_path):
    make_train(tmp_path)
    (tmp_path / 'train' / 'train.csv').write_bytes(b'path\n\xff\xfe\x00bad')
    with pytest.raises(MaskLabError, match=f'cannot read {tmp_path / "train" / "train.csv"}'): load_train(tmp_path)


# ---------------------------------------------------------------- label corrections

def corrections(tmp_path, text):
    (tmp_path / 'c.csv').write_text('person,field,value,reason\n' + text)
    return tmp_path / 'c.csv'


@pytest.mark.parametrize('line,message', [
    ('000001,height,180,x', "line 2: unknown field 'height'"),
    ('000001,gender,f,x', "line 2: gender must be male or female, got 'f'"),
    ('000001,age,0,x', "line 2: age must be a whole number in 1..120, got '0'"),
    ('000001,age,45.5,x', "line 2: age must be a whole number in 1..120, got '45.5'"),
    ('000001,exclude,maybe,x', "line 2: exclude takes an empty value, yes, true or 1, got 'maybe'"),
    ('000001,mask1,mask7,x', 'line 2: a photo correction takes another photo name'),
    (',age,30,x', 'line 2: empty person id'),
])
def test_bad_correction_lines(tmp_path, line, message):
    path = corrections(tmp_path, line + '\n')
    with pytest.raises(DataProblemsError) as e: load_corrections(path)
    assert str(e.value).splitlines()[0] == f'1 bad correction in {path}:'
    assert e.value.problems['reason'][0].startswith(message) and e.value.problems['path'][0] == str(path)


def test_corrections_for_unknown_or_skipped_people(tmp_path):
    make_train(tmp_path, GOOD + ['000004_robot_Asian_30'])
    path = corrections(tmp_path, '000009,age,30,x\n000004,gender,male,the robot is a man\n')
    with pytest.raises(DataProblemsError, match=r"line 2: person '000009' is not in the data") as e:
        load_train(tmp_path, corrections=path)
    assert len(e.value.problems) == 1                 # 000004 was skipped for its folder name: nothing to correct
    path = corrections(tmp_path, '2,age,30,x\n')
    with pytest.raises(MaskLabError, match='did you mean 000002'): load_train(tmp_path, corrections=path)


def test_corrections_change_labels_and_nothing_else(tmp_path):
    make_train(tmp_path)
    df, _ = load_train(tmp_path)
    path = corrections(tmp_path, '000001,age,29,x\n000002,gender,female,x\n000003,exclude,yes,x\n'
                                 '000001,normal,mask2,x\n000001,mask2,normal,x\n000002,mask3,,to review\n')
    fixed, _ = load_train(tmp_path, corrections=path)
    assert sorted(fixed['person'].unique()) == ['000001', '000002'] and len(fixed) == 14
    one = fixed[fixed['person'] == '000001'].set_index('image')
    assert one['age_group'].unique().tolist() == [0] and one.loc[['normal', 'mask2'], 'mask'].tolist() == [0, 2]
    assert one.loc['normal', 'label'] == 0 * 6 + 1 * 3 + 0 and one.loc['mask2', 'label'] == 2 * 6 + 1 * 3 + 0
    two = fixed[fixed['person'] == '000002']
    assert two['label'].tolist() == [(m * 6 + 3 + 0) for m in IMAGE_STEMS.values()]
    assert fixed['path'].tolist() == df['path'][:14].tolist()
    assert apply_corrections(df, path)['label'].tolist() == fixed['label'].tolist()


def test_eda_template_loads(tmp_path):
    from mask_lab.review import write_label_corrections
    flags = pd.DataFrame({'person': ['000001', '000002', '000003'], 'image': ['mask1', 'mask4', 'normal'],
                          'reason': ['a', 'b', 'c'], 'score': [1.0, 1.0, 1.0],
                          'rule': ['bare_mask_photo', 'near_duplicate', 'covered_mouth'], 'other': ['normal', 'mask5', 'mask3']})
    path = write_label_corrections(flags, tmp_path / 'review' / 'corrections.csv')
    corr = load_corrections(path)
    assert corr['field'].tolist() == ['mask1', 'normal', 'mask4', 'normal', 'mask3']
    make_train(tmp_path)
    fixed = load_train(tmp_path, corrections=path)[0].set_index(['person', 'image'])
    assert fixed.loc[('000001', 'mask1'), 'mask'] == 2 and fixed.loc[('000001', 'normal'), 'mask'] == 0
    assert ('000002', 'mask4') not in fixed.index and len(fixed) == 20


# ---------------------------------------------------------------- settings and run folders

def test_unknown_model_lists_close_names(demo, tmp_path, cli):
    code, err = cli('train', '--data', demo, '--out', tmp_path / 'runs', '--model', 'mobilenetv3_smal_050')
    assert code == 2 and err.startswith("mask-lab: error: unknown model 'mobilenetv3_smal_050'; did you mean mobilenetv3_small_050")
    assert not (tmp_path / 'runs').exists()


@pytest.mark.parametrize('option,value,message', [
    ('--optimizer', 'adamx', "argument --optimizer: invalid choice: 'adamx' (choose from 'adamw', 'adam', 'sgd')"),
    ('--schedule', 'linear', "argument --schedule: invalid choice: 'linear'"),
    ('--layout', 'triple', "argument --layout: invalid choice: 'triple'"),
])
def test_unknown_choices_are_one_line(demo, tmp_path, cli, option, value, message):
    code, err = cli('train', '--data', demo, '--out', tmp_path / 'runs', option, value)
    assert code == 2 and message in err
    with pytest.raises(MaskLabError, match=f"{option[2:]} must be one of"):
        train(demo, out=tmp_path / "runs", **{**TINY, option[2:]: value})
    assert not (tmp_path / 'runs').exists()


def test_unknown_loss_lists_valid_ones(demo, tmp_path, cli):
    code, err = cli('train', '--data', demo, '--out', tmp_path / 'runs', '--loss', 'cee', '--name', 'r')
    assert code == 2 and err == "mask-lab: error: unknown loss 'cee' in spec 'cee'; losses: 'ce', 'focal', 'f1'"


def test_unknown_loss_leaves_no_run_folder(demo, tmp_path):
    with pytest.raises(MaskLabError, match="unknown loss 'cee'"): train(demo, out=tmp_path / 'runs', name='r', loss='cee', **TINY)
    assert not (tmp_path / 'runs' / 'r').exists()


@pytest.fixture(scope='module')
def run(demo, tmp_path_factory):
    out = tmp_path_factory.mktemp('runs')
    train(demo, out=out, name='r', **TINY)
    return out / 'r'


def test_existing_run_folder_is_refused(demo, run, cli):
    before = (run / 'metrics.jsonl').read_bytes()
    code, err = cli('train', '--data', demo, '--out', run.parent, '--name', 'r', '--model', 'mobilenetv3_small_050')
    assert code == 2 and err == f'mask-lab: error: {run}: run folder already exists; choose another --name, or --resume it'
    assert (run / 'metrics.jsonl').read_bytes() == before


def test_checkpoint_with_another_head_layout(run, tmp_path):
    import shutil
    edited = tmp_path / 'edited'
    shutil.copytree(run, edited)
    ckpt = torch.load(edited / 'checkpoints' / 'best.pt', weights_only=True)
    ckpt['config']['layout'] = 'multi'
    torch.save(ckpt, edited / 'checkpoints' / 'best.pt')
    with pytest.raises(MaskLabError, match=r"best\.pt: the checkpoint's head has 18 outputs.*says layout 'multi', which needs 8"):
        load_run(edited)
    (edited / 'checkpoints' / 'best.pt').write_bytes(b'garbage')
    with pytest.raises(MaskLabError, match=r'best\.pt: cannot read checkpoint'): load_run(edited)


def test_resume_without_a_checkpoint(run, tmp_path, cli):
    import shutil
    empty = tmp_path / 'early'
    shutil.copytree(run, empty)
    shutil.rmtree(empty / 'checkpoints')
    with pytest.raises(MaskLabError, match=r'early: nothing to resume: no checkpoint yet \(checkpoints/last\.pt\)'):
        train(resume=empty, verbose=False)
    (tmp_path / 'plain').mkdir()
    code, err = cli('train', '--resume', tmp_path / 'plain')
    assert code == 2 and err == f'mask-lab: error: {tmp_path / "plain"}: not a run folder (no config.json)'


# ---------------------------------------------------------------- issue 24's cases: leaks, tables and face boxes

def photo_table(root, rows, header='file,mask,gender,age'):
    "A photo table `root/labels.csv` of `rows` (csv lines) beside 8x8 photos named in its first column."
    root.mkdir(parents=True, exist_ok=True)
    for line in rows:
        name = line.split(',')[0]
        if name and not (root / name).exists(): Image.new('RGB', (8, 8), (len(name) * 20, 90, 160)).save(root / name)
    (root / 'labels.csv').write_text(header + '\n' + ''.join(r + '\n' for r in rows))
    return root


def test_same_folder_twice_is_refused(demo, tmp_path, cli):   # (1)
    from mask_lab.data import load_sources
    (tmp_path / 'link').symlink_to(demo)
    with pytest.raises(MaskLabError, match='the same data folder is given twice'): load_sources([demo, demo])
    with pytest.raises(MaskLabError, match=f'link: the same data folder is given twice \\(as {demo}\\)'):
        load_sources([demo, tmp_path / 'link'])
    code, err = cli('train', '--data', demo, tmp_path / 'link', '--out', tmp_path / 'runs')
    assert code == 2 and err.startswith('mask-lab: error: ') and 'the same data folder is given twice' in err
    assert not (tmp_path / 'runs').exists()


def test_photo_table_duplicate_rows_kept_once(tmp_path):   # (2)
    from mask_lab.data import load_photo_table
    root = photo_table(tmp_path / 't', ['a.jpg,worn,female,18', 'b.jpg,none,male,70', 'a.jpg,worn,female,18'])
    df, problems = load_photo_table(root)
    assert df['image'].tolist() == ['a.jpg', 'b.jpg']
    assert problems.values.tolist() == [[str(root / 'a.jpg'), 'labels.csv line 4: repeats line 2 (same file, same labels); kept once']]


def test_photo_table_conflicting_labels_are_left_out(tmp_path):   # (3)
    from mask_lab.data import load_photo_table
    root = photo_table(tmp_path / 't', ['a.jpg,worn,female,18', 'b.jpg,none,male,70', 'a.jpg,none,male,70'])
    df, problems = load_photo_table(root)
    assert df['image'].tolist() == ['b.jpg']
    reason = 'a.jpg is listed on lines 2, 4 with different labels; all left out'
    assert problems['reason'].tolist() == [f'labels.csv line 2: {reason}', f'labels.csv line 4: {reason}']


@pytest.mark.parametrize('header,rows,message', [
    ('file,mask,gender,age', [], 'labels.csv: no rows, only a header'),                                  # (11)
    ('file,mask,gender', ['a.jpg,worn,female'], 'labels.csv: has a gender column but no age column'),   # (13)
])
def test_photo_table_columns(tmp_path, header, rows, message):
    from mask_lab.data import load_photo_table
    root = photo_table(tmp_path / 't', rows, header)
    with pytest.raises(MaskLabError, match=message): load_photo_table(root)


def test_photo_table_blank_cells(tmp_path):   # (12), (14)
    from mask_lab.data import load_photo_table
    root = photo_table(tmp_path / 't', ['a.jpg,worn,p1', ',worn,p1', 'b.jpg,none, '], 'file,mask,person')
    df, problems = load_photo_table(root)
    assert df['image'].tolist() == ['a.jpg']
    assert problems['reason'].tolist() == ['labels.csv line 3: empty file cell', 'labels.csv line 4: empty person cell (column person)']
    root = photo_table(tmp_path / 'u', ['a.jpg,worn,', 'b.jpg,none,'], 'file,mask,person')
    with pytest.raises(DataProblemsError, match=r'(?s)every row has a problem.*labels.csv line 2: empty person cell \(column person\)'):
        load_photo_table(root)


@pytest.mark.parametrize('box,reason', [
    ('0,0,1e300,1e300', 'reaches beyond 1,000,000 pixels'),                  # (5)
    ('6,6,2,2', 'has no size or swapped corners'),                           # (15)
    ('-9,1,-2,5', 'lies wholly outside the photo'),
    ('3,3,3,7', 'has no size or swapped corners'),
    ('inf,1,5,5', 'is not finite'),
    ('100,100,120,130', 'lies wholly outside the 8x8 photo'),               # (17)
])
def test_broken_face_box_named_by_line_and_photo(tmp_path, cli, box, reason):
    from mask_lab.data import load_train
    make_train(tmp_path)
    csv = tmp_path / 'train' / 'faces.csv'
    csv.write_text('file,face_x1,face_y1,face_x2,face_y2\n' + f'{GOOD[0]}/mask1.jpg,1,1,6,6\n' + f'{GOOD[1]}/normal.jpg,{box}\n')
    with pytest.raises(MaskLabError, match=f'{csv} line 3: face of {GOOD[1]}/normal.jpg: box .* {reason}'): load_train(tmp_path)
    code, err = cli('train', '--data', tmp_path, '--out', tmp_path / 'runs', '--model', 'mobilenetv3_small_050')
    assert code == 2 and err.startswith(f'mask-lab: error: {csv} line 3:') and not (tmp_path / 'runs').exists()


def test_file_name_not_utf8_is_a_skip(tmp_path):   # (6)
    import os
    from mask_lab.data import load_folder
    Image.new('RGB', (8, 8)).save(tmp_path / 'good.jpg')
    bad = tmp_path / os.fsdecode(b'caf\xe9.jpg')
    Image.new('RGB', (8, 8)).save(bad)
    df, problems = load_folder(tmp_path)
    assert df['ImageID'].tolist() == ['good.jpg'] and problems['reason'].tolist() == ['file name is not UTF-8 (rename the file)']
    assert problems['path'].tolist() == [str(tmp_path / 'caf\\xe9.jpg')]             # shown with its odd byte, writable
    make_train(tmp_path)
    (tmp_path / 'train' / 'images' / GOOD[0] / os.fsdecode(b'caf\xe9.jpg')).write_bytes(b'x')
    problems = load_train(tmp_path)[1]
    problems.to_csv(tmp_path / 'problems.csv', index=False)                           # as a run writes it
    assert pd.read_csv(tmp_path / 'problems.csv')['path'].str.endswith('caf\\xe9.jpg').tolist() == [True]


def test_config_file_not_utf8(demo, tmp_path, cli):   # (4)
    path = tmp_path / 'c.yaml'
    path.write_bytes(b'model: mobilenetv3_small_050\nname: caf\xe9\n')
    code, err = cli('train', '--config', path, '--out', tmp_path / 'runs')
    assert code == 2 and err == f'mask-lab: error: {path} line 2, column 10: not UTF-8 text (byte 0xe9)'
    path = tmp_path / 'c.json'
    path.write_bytes(b'{"model": "x\xff"}')
    code, err = cli('cv', '--config', path, '--out', tmp_path / 'runs', '--name', 'cv')
    assert code == 2 and err == f'mask-lab: error: {path} line 1, column 13: not UTF-8 text (byte 0xff)'
    assert not (tmp_path / 'runs').exists()


@pytest.mark.parametrize('content,reason', [
    (b'\x89PNG\xff\xfe' + bytes(range(256)) * 4, ' line 1: not UTF-8 text (a binary file?)'),          # (7)
    (b'', ': empty file (0 bytes; the run has logged nothing)'),                   # (22)
])
def test_runs_over_unreadable_metrics(run, tmp_path, cli, capsys, content, reason):
    import shutil
    shutil.copytree(run, tmp_path / 'runs' / 'r')
    (tmp_path / 'runs' / 'r' / 'metrics.jsonl').write_bytes(content)
    from mask_lab.cli import main
    assert main(['runs', str(tmp_path / 'runs')]) in (None, 0)
    assert f'unreadable metrics: {tmp_path / "runs" / "r" / "metrics.jsonl"}{reason}' in capsys.readouterr().out


def test_out_is_a_file_or_read_only(demo, tmp_path, cli, monkeypatch):   # (8), (9)
    import pathlib
    (tmp_path / 'afile').write_text('x')
    code, err = cli('train', '--data', demo, '--out', tmp_path / 'afile', '--name', 'r', '--model', 'mobilenetv3_small_050')
    assert code == 2 and err == f'mask-lab: error: {tmp_path / "afile"}: is a file, not a folder; cannot make the run folder {tmp_path / "afile" / "r"}'
    (tmp_path / 'ro').mkdir()
    mkdir = pathlib.Path.mkdir
    def read_only(self, *a, **k):   # as a read-only folder answers (root may write anywhere, so chmod cannot show it)
        if self.parent == tmp_path / 'ro': raise PermissionError(13, 'Permission denied', str(self))
        return mkdir(self, *a, **k)
    monkeypatch.setattr(pathlib.Path, 'mkdir', read_only)
    code, err = cli('train', '--data', demo, '--out', tmp_path / 'ro', '--name', 'r', '--model', 'mobilenetv3_small_050')
    assert code == 2 and err == f'mask-lab: error: {tmp_path / "ro" / "r"}: cannot create the run folder (Permission denied)'


def test_search_study_naming_a_file(demo, tmp_path, cli):   # (10)
    (tmp_path / 'base.yaml').write_text(f'data: {demo}\nmodel: mobilenetv3_small_050\nepochs: 1\n')
    (tmp_path / 'space.yaml').write_text('lr: {low: 1.0e-4, high: 3.0e-2, log: true}\n')
    (tmp_path / 'runs').mkdir(); (tmp_path / 'runs' / 'st').write_text('x')
    code, err = cli('search', '--config', tmp_path / 'base.yaml', '--space', tmp_path / 'space.yaml', '--trials', 1,
                    '--study', 'st', '--out', tmp_path / 'runs')
    assert code == 2 and err == f'mask-lab: error: {tmp_path / "runs" / "st"}: is a file, not a folder; cannot make the study folder {tmp_path / "runs" / "st"}'


def test_unknown_preprocess_key_in_a_config_file(run, tmp_path, cli):   # (19)
    import json
    cfg = json.loads((run / 'config.json').read_text())
    cfg['preprocess']['colour'] = 1
    (tmp_path / 'config.json').write_text(json.dumps(cfg))
    code, err = cli('train', '--config', tmp_path / 'config.json', '--out', tmp_path / 'runs')
    assert code == 2 and err == (f"mask-lab: error: {tmp_path / 'config.json'}: preprocess: unknown key 'colour' "
                                 "(a Preprocess has size, mean, std, crop, margin)")


def test_eda_on_a_photo_table_is_one_line(tmp_path, cli):   # (21)
    root = photo_table(tmp_path / 't' / 'images', [f'p{i}.jpg,worn,female,{20 + i}' for i in range(12)])
    (root / 'labels.csv').rename(root.parent / 'labels.csv')
    code, err = cli('eda', tmp_path / 't', '--out', tmp_path / 'r.html')
    assert code == 2 and err == f'mask-lab: error: {tmp_path / "t"}: a photo table (labels.csv); the report reads a competition folder (train/images/<id>_<gender>_<race>_<age>/)'
    assert not (tmp_path / 'r.html').exists()


def test_cv_that_could_never_run_leaves_nothing(demo, tmp_path, cli):   # (23)
    code, err = cli('cv', '--data', demo, '--folds', 50, '--out', tmp_path / 'runs', '--name', 'c', '--model', 'mobilenetv3_small_050')
    assert code == 2 and 'cannot split 20 people into 50 folds' in err
    assert not (tmp_path / 'runs').exists()


def test_compare_only_reads_and_names_a_truncated_file(run, tmp_path, cli):   # (18), (25)
    import shutil
    old = tmp_path / 'old'; shutil.copytree(run, old)
    (old / 'valid_predictions.csv').unlink()      # a run from before they were saved: predicted in memory, not written
    code, _ = cli('compare', run, old)
    assert code == 0 and not (old / 'valid_predictions.csv').exists()
    cut = tmp_path / 'cut'; shutil.copytree(run, cut)
    lines = (cut / 'valid_predictions.csv').read_text().splitlines()
    (cut / 'valid_predictions.csv').write_text('\n'.join(lines[:4]) + '\n')
    code, err = cli('compare', run, cut)
    assert code == 2 and err == (f'mask-lab: error: {cut / "valid_predictions.csv"}: holds 3 of the {len(lines) - 1} validation images '
                                 '(cut short?); delete it to have the run predict them again')


def test_predict_lists_skips_and_no_face_only_when_done(run, tmp_path, cli, monkeypatch):   # (24), (26), (16)
    photos = tmp_path / 'photos'; photos.mkdir()
    for n in ('a', 'b'): Image.new('RGB', (40, 40), (90, 120, 150)).save(photos / f'{n}.jpg')
    (photos / 'broken.jpg').write_bytes(b'not a photo')
    (photos / 'gone.jpg').symlink_to(tmp_path / 'nowhere.jpg')
    out = tmp_path / 'sub.csv'
    old = 'ImageID,path,reason\nold.jpg,x,from the last run\n'
    out.with_suffix('.no_face.csv').write_text(old)
    import mask_lab.inference
    def interrupted(*a, **k): raise KeyboardInterrupt
    monkeypatch.setattr(mask_lab.inference, 'predict_runs_probs', interrupted)
    code, _ = cli('predict', '--run', run, '--data', photos, '--out', out)
    assert code == 130 and out.with_suffix('.no_face.csv').read_text() == old     # (24) nothing replaced before it could succeed
    assert not out.exists() and not out.with_suffix('.skipped.csv').exists()
    monkeypatch.undo()
    code, err = cli('predict', '--run', run, '--data', photos, '--out', out)
    assert code == 0 and len(pd.read_csv(out)) == 2
    skipped = pd.read_csv(out.with_suffix('.skipped.csv'))                         # (26)
    assert sorted(skipped['path']) == [str(photos / 'broken.jpg'), str(photos / 'gone.jpg')]
    assert sorted(pd.read_csv(out.with_suffix('.no_face.csv'))['ImageID']) == ['a.jpg', 'b.jpg']
    for n in ('broken', 'gone'): (photos / f'{n}.jpg').unlink()
    assert cli('predict', '--run', run, '--data', photos, '--out', out)[0] == 0
    assert not out.with_suffix('.skipped.csv').exists()                          # no skips now: the last run's list is gone
    from mask_lab.inference import load_run, predict_probs                          # (16): predict offers no --on-bad-image
    from mask_lab.images import Preprocess
    model, cfg = load_run(run, device='cpu')
    pre = Preprocess.from_dict({**cfg['preprocess'], 'crop': 'none'})
    with pytest.raises(MaskLabError, match=r'broken.jpg.*; stopped \(predicting has no skip: fix the photo or move it out of the folder\)$'):
        predict_probs(model, pd.DataFrame({'path': [str(photos / 'broken.jpg')]}), pre, num_workers=0)


def test_library_warnings_are_one_line_of_ours(tmp_path, capsys, monkeypatch):   # (27)
    import warnings
    import mask_lab.cli
    from mask_lab.data import load_folder
    huge_png(tmp_path / 'big.png', 10_000, 10_000)          # above PIL's warning limit, below its error limit
    Image.new('RGB', (8, 8)).save(tmp_path / 'small.png')
    def score(args):   # any command that reads the photos, and a library's deprecation note on the way
        warnings.warn('an old call', DeprecationWarning)
        return load_folder(tmp_path)
    monkeypatch.setattr(mask_lab.cli, 'cmd_score', score)
    with warnings.catch_warnings():
        warnings.simplefilter('always')
        assert mask_lab.cli.main(['score', tmp_path / 'x.csv', tmp_path / 'y.csv']) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err and all(line.startswith('mask-lab: warning: ') for line in err)
    assert any(line.endswith('(DecompressionBombWarning from PIL)') for line in err)
    assert not any('an old call' in line for line in err)   # deprecations are for the libraries' developers, not the user


@pytest.fixture(scope='module')
def cv_dir(demo, tmp_path_factory):
    from mask_lab.experiments import cv
    out = tmp_path_factory.mktemp('cvs')
    settings = {k: v for k, v in TINY.items() if k != 'verbose'}
    cv({'data': str(demo), **settings, 'size': list(settings['size'])}, folds=2, out=out, name='c', verbose=False)
    return out / 'c'


def test_predict_and_evaluate_a_cv_folder(demo, cv_dir, tmp_path, cli, capsys):   # (20)
    from mask_lab.cli import main
    from mask_lab.inference import predict
    out = tmp_path / 'sub.csv'
    code, _ = cli('predict', '--run', cv_dir, '--data', demo / 'eval', '--out', out, '--tta', 'none')
    assert code == 0
    ensemble = predict([cv_dir / 'fold_0', cv_dir / 'fold_1'], demo / 'eval', tta=None)
    assert pd.read_csv(out)['ans'].tolist() == ensemble['ans'].tolist()
    assert main(['evaluate', str(cv_dir)]) == 0
    oof = pd.read_csv(cv_dir / 'oof_predictions.csv')
    assert f'support' in capsys.readouterr().out and len(oof) == 140
    from mask_lab.evaluate import evaluate_run
    res = evaluate_run(cv_dir, n_mistakes=0, saliency=2)
    assert len(res['preds']) == len(oof) and res['saliency'] is None
    assert res['preds']['label'].tolist() == oof['label'].tolist()
