"A catalogue of bad inputs for `mask_lab.data`: each test builds a tiny layout and checks the exact problem reported."
import pandas as pd
import pytest
from PIL import Image

from mask_lab.core import IMAGE_STEMS, MaskLabError
from mask_lab.core import DataProblemsError, summarize_problems
from mask_lab.data import add_person_folds, load_eval, load_train, parse_person_folder

GOOD = ['000001_female_Asian_45', '000002_male_Asian_19', '000003_female_Asian_61']


def write_person(images, folder, stems=tuple(IMAGE_STEMS), ext='.jpg'):
    d = images / folder
    d.mkdir(parents=True, exist_ok=True)
    for i, stem in enumerate(stems): Image.new('RGB', (8, 8), (30 * i, 90, 160)).save(d / f'{stem}{ext}')
    return d


def make_train(root, folders=GOOD, csv=True):
    "A data folder with `train/images/<folder>` for each folder and, with `csv`, a train.csv listing them."
    images = root / 'train' / 'images'
    images.mkdir(parents=True, exist_ok=True)
    for f in folders: write_person(images, f)
    if csv: pd.DataFrame({'path': list(folders)}).to_csv(root / 'train' / 'train.csv', index=False)
    return root


def images_of(root): return root / 'train' / 'images'


def reasons(problems): return dict(zip(problems['path'], problems['reason']))


def people(df): return sorted(df['person'].unique())


# ---------------------------------------------------------------- training folders

def test_clean_layout(tmp_path):
    df, problems = load_train(make_train(tmp_path))
    assert problems.columns.tolist() == ['path', 'reason'] and len(problems) == 0
    assert len(df) == 21 and people(df) == ['000001', '000002', '000003']
    assert df['image'][:7].tolist() == list(IMAGE_STEMS)
    assert df.groupby('person')['age_group'].first().tolist() == [1, 0, 2]
    assert df['path'][0] == str(images_of(tmp_path) / GOOD[0] / 'mask1.jpg')


def test_split_folder_as_root_and_mixed_extensions(tmp_path):
    make_train(tmp_path)
    p = images_of(tmp_path) / GOOD[1]
    (p / 'normal.jpg').rename(p / 'normal.png')
    (p / 'mask3.jpg').rename(p / 'mask3.jpeg')
    df, problems = load_train(tmp_path / 'train')
    assert len(problems) == 0 and len(df) == 21
    assert df.loc[df['folder'] == GOOD[1], 'path'].str.rsplit('.', n=1).str[1].tolist() == ['jpg'] * 2 + ['jpeg'] + ['jpg'] * 3 + ['png']


def test_hidden_files_ignored(tmp_path):
    make_train(tmp_path)
    images = images_of(tmp_path)
    (images / '.DS_Store').write_bytes(b'\0\0\0\1Bud1')
    (images / '._000001_female_Asian_45').mkdir()
    (images / '._000001_female_Asian_45' / 'junk').write_bytes(b'')
    (images / GOOD[0] / '._mask1.jpg').write_bytes(b'\0\5\26\7')
    (images / GOOD[0] / '.DS_Store').write_bytes(b'')
    df, problems = load_train(tmp_path)
    assert len(problems) == 0
    assert len(df) == 21
    assert not df['path'].str.contains('/.', regex=False).any()


@pytest.mark.parametrize('name,reason', [
    ('000004_female_Asian_abc', "bad person folder name '000004_female_Asian_abc': age 'abc' is not an integer"),
    ('000004_female_45', "bad person folder name '000004_female_45': expected 4 fields <id>_<gender>_<race>_<age>, found 3"),
    ('000004_robot_Asian_30', "bad person folder name '000004_robot_Asian_30': unknown gender 'robot' (expected male or female)"),
    ('000004_male_Asian_130', "bad person folder name '000004_male_Asian_130': age 130 is outside 1..120"),
])
def test_bad_folder_names(tmp_path, name, reason):
    make_train(tmp_path, GOOD + [name])
    df, problems = load_train(tmp_path)
    assert reasons(problems) == {str(images_of(tmp_path) / name): reason}
    assert people(df) == ['000001', '000002', '000003']


def test_parse_person_folder():
    assert parse_person_folder('000001_FEMALE_Asian_45') == {'person': '000001', 'gender': 1, 'race': 'Asian', 'age': 45}
    assert parse_person_folder('000002_Male_Asian_120')['gender'] == 0
    with pytest.raises(MaskLabError, match='found 5'): parse_person_folder('000001_female_Asian_45_x')
    with pytest.raises(MaskLabError, match=r"age '4\.5' is not an integer"): parse_person_folder('000001_female_Asian_4.5')


def test_missing_stem(tmp_path):
    make_train(tmp_path)
    folder = images_of(tmp_path) / GOOD[1]
    (folder / 'incorrect_mask.jpg').unlink()
    df, problems = load_train(tmp_path)
    assert reasons(problems) == {str(folder): "missing image 'incorrect_mask' (no incorrect_mask with extension .jpg, .jpeg, .png)"}
    assert people(df) == ['000001', '000003'] and len(df) == 14  # the whole person is dropped


def test_duplicated_stem(tmp_path):
    make_train(tmp_path)
    folder = images_of(tmp_path) / GOOD[0]
    Image.new('RGB', (8, 8)).save(folder / 'mask1.png')
    df, problems = load_train(tmp_path)
    assert reasons(problems) == {str(folder / 'mask1.jpg'): "duplicate image for 'mask1' (mask1.jpg, mask1.png)",
                                 str(folder / 'mask1.png'): "duplicate image for 'mask1' (mask1.jpg, mask1.png)"}
    assert people(df) == ['000002', '000003']


def test_unexpected_file_and_unknown_extension(tmp_path):
    make_train(tmp_path)
    folder = images_of(tmp_path) / GOOD[2]
    (folder / 'mask1.jpg').rename(folder / 'mask1.bmp')
    (folder / 'Thumbs.db').write_bytes(b'x')
    (images_of(tmp_path) / 'README.txt').write_text('hi')
    df, problems = load_train(tmp_path)
    r = reasons(problems)
    assert r[str(folder / 'mask1.bmp')] == "unknown image extension '.bmp' (expected .jpg, .jpeg, .png)"
    assert r[str(folder / 'Thumbs.db')].startswith('unexpected file (a person folder holds only mask1, mask2')
    assert r[str(folder)].startswith("missing image 'mask1'")
    assert r[str(images_of(tmp_path) / 'README.txt')] == 'unexpected file in the images folder (it holds only person folders)'
    assert people(df) == ['000001', '000002']


@pytest.mark.parametrize('content,reason', [
    (b'', 'empty file (0 bytes)'),
    (b'id,gender\n1,female\n', 'not an image file (PIL cannot identify it)'),
])
def test_unreadable_image(tmp_path, content, reason):
    make_train(tmp_path)
    bad = images_of(tmp_path) / GOOD[0] / 'mask4.jpg'
    bad.write_bytes(content)
    df, problems = load_train(tmp_path)
    assert reasons(problems) == {str(bad): reason}
    assert people(df) == ['000002', '000003']
    # without verification the file is not opened, so the person stays
    assert people(load_train(tmp_path, verify_images=False)[0]) == ['000001', '000002', '000003']


def test_truncated_jpeg(tmp_path):
    make_train(tmp_path)
    bad = images_of(tmp_path) / GOOD[2] / 'normal.jpg'
    Image.effect_noise((64, 64), 60).convert('RGB').save(bad, quality=95)
    bad.write_bytes(bad.read_bytes()[:-300])  # cut inside the compressed data: the headers still verify
    df, problems = load_train(tmp_path)
    r = reasons(problems)
    assert list(r) == [str(bad)]
    assert r[str(bad)].startswith('corrupt or truncated image (image file is truncated')
    assert people(df) == ['000001', '000002']


def test_truncated_png(tmp_path):
    make_train(tmp_path)
    folder = images_of(tmp_path) / GOOD[2]
    (folder / 'normal.jpg').unlink()
    Image.effect_noise((64, 64), 60).save(folder / 'normal.png')
    (folder / 'normal.png').write_bytes((folder / 'normal.png').read_bytes()[:-100])
    problems = load_train(tmp_path)[1]
    assert problems['path'].tolist() == [str(folder / 'normal.png')]
    assert problems['reason'][0].startswith('corrupt or truncated image (')


def test_duplicate_person_id(tmp_path):
    make_train(tmp_path, GOOD + ['000002_female_Asian_33'])
    df, problems = load_train(tmp_path)
    reason = 'person id 000002 is used by 2 folders (000002_female_Asian_33, 000002_male_Asian_19)'
    assert reasons(problems) == {str(images_of(tmp_path) / '000002_female_Asian_33'): reason,
                                 str(images_of(tmp_path) / '000002_male_Asian_19'): reason}
    assert people(df) == ['000001', '000003']


def test_train_csv_disagrees_with_folders(tmp_path):
    make_train(tmp_path)
    pd.DataFrame({'id': ['000001', '000003', '000009'],
                  'path': ['000001_female_Asian_45', '000003_female_Asian_61', '000009_male_Asian_30']}
                 ).to_csv(tmp_path / 'train' / 'train.csv', index=False)
    df, problems = load_train(tmp_path)
    csv, images = tmp_path / 'train' / 'train.csv', images_of(tmp_path)
    assert problems.values.tolist() == [
        [str(csv), f"line 4: folder '000009_male_Asian_30' is not in {images}"],
        [str(images / GOOD[1]), 'folder is not listed in train.csv']]
    assert people(df) == ['000001', '000003']


def test_train_csv_missing_is_fine_but_needs_path_column(tmp_path):
    make_train(tmp_path, csv=False)
    df, problems = load_train(tmp_path)
    assert len(df) == 21 and len(problems) == 0
    pd.DataFrame({'id': ['000001']}).to_csv(tmp_path / 'train' / 'train.csv', index=False)
    with pytest.raises(MaskLabError, match=r'train\.csv has no column path'): load_train(tmp_path)


def test_on_problem_raise_names_each_file(tmp_path):
    make_train(tmp_path, GOOD + ['000004_robot_Asian_30'])
    pd.DataFrame({'path': GOOD}).to_csv(tmp_path / 'train' / 'train.csv', index=False)
    empty = images_of(tmp_path) / GOOD[0] / 'mask2.jpg'
    empty.write_bytes(b'')
    (images_of(tmp_path) / GOOD[1] / 'normal.jpg').unlink()
    with pytest.raises(DataProblemsError) as e: load_train(tmp_path, on_problem='raise')
    msg = str(e.value)
    assert msg.splitlines()[0] == f'4 problems in {tmp_path / "train"}:'
    assert f'{empty}: empty file (0 bytes)' in msg
    assert f"{images_of(tmp_path) / GOOD[1]}: missing image 'normal'" in msg
    assert f"{images_of(tmp_path) / '000004_robot_Asian_30'}: bad person folder name" in msg
    assert f"{images_of(tmp_path) / '000004_robot_Asian_30'}: folder is not listed in train.csv" in msg
    assert len(e.value.problems) == 4 and isinstance(e.value, MaskLabError)


def test_on_problem_other_value(tmp_path):
    with pytest.raises(MaskLabError, match="on_problem must be 'skip' or 'raise', got 'warn'"):
        load_train(make_train(tmp_path), on_problem='warn')


def test_every_person_bad_is_an_error(tmp_path):
    make_train(tmp_path, ['000001_female_Asian_x'], csv=False)
    with pytest.raises(DataProblemsError, match='no usable person in .*every folder has a problem'): load_train(tmp_path)


def test_message_is_capped():
    probs = [(f'/d/{i}.jpg', 'empty file (0 bytes)') for i in range(30)]
    lines = str(DataProblemsError(probs)).splitlines()
    assert lines[0] == '30 data problems:' and lines[-1] == '... and 10 more' and len(lines) == 22
    assert summarize_problems(probs).count('\n') == 29


def test_empty_and_missing_folders(tmp_path):
    with pytest.raises(MaskLabError, match=f'data folder not found: {tmp_path / "nope"}'): load_train(tmp_path / 'nope')
    (tmp_path / 'data').mkdir()
    with pytest.raises(MaskLabError, match=f'no train images folder: expected {tmp_path / "data" / "train" / "images"}'):
        load_train(tmp_path / 'data')
    (tmp_path / 'data' / 'train' / 'images').mkdir(parents=True)
    (tmp_path / 'data' / 'train' / 'images' / '.DS_Store').write_bytes(b'')
    with pytest.raises(MaskLabError, match=f'no person folders in {tmp_path / "data" / "train" / "images"}'):
        load_train(tmp_path / 'data')


# ---------------------------------------------------------------- evaluation folder

def make_eval(root, names=('a1.jpg', 'b2.jpg', 'c3.png'), listed=None):
    images = root / 'eval' / 'images'
    images.mkdir(parents=True, exist_ok=True)
    for n in names: Image.new('RGB', (8, 8), (200, 90, 30)).save(images / n)
    listed = list(names) if listed is None else listed
    pd.DataFrame({'ImageID': listed, 'ans': 0}).to_csv(root / 'eval' / 'info.csv', index=False)
    return root


def test_eval_clean_in_info_order(tmp_path):
    make_eval(tmp_path, listed=['c3.png', 'a1.jpg', 'b2.jpg'])
    (tmp_path / 'eval' / 'images' / '._a1.jpg').write_bytes(b'\0')
    df, problems = load_eval(tmp_path)
    assert df.columns.tolist() == ['ImageID', 'path', 'ans'] and len(problems) == 0
    assert df['ImageID'].tolist() == ['c3.png', 'a1.jpg', 'b2.jpg']
    assert df['path'][0] == str(tmp_path / 'eval' / 'images' / 'c3.png')
    assert load_eval(tmp_path / 'eval')[0]['ImageID'].tolist() == ['c3.png', 'a1.jpg', 'b2.jpg']


def test_eval_missing_and_unreadable_image(tmp_path):
    make_eval(tmp_path, listed=['a1.jpg', 'zz.jpg', 'b2.jpg', 'c3.png'])
    (tmp_path / 'eval' / 'images' / 'b2.jpg').write_bytes(b'')
    df, problems = load_eval(tmp_path)
    images = tmp_path / 'eval' / 'images'
    assert problems.values.tolist() == [[str(images / 'zz.jpg'), 'listed in info.csv (line 3) but the file does not exist'],
                                        [str(images / 'b2.jpg'), 'empty file (0 bytes)']]
    assert df['ImageID'].tolist() == ['a1.jpg', 'c3.png']  # skipped rows are missing from a submission
    with pytest.raises(DataProblemsError) as e: load_eval(tmp_path, on_problem='raise')
    assert str(images / 'zz.jpg') in str(e.value) and str(images / 'b2.jpg') in str(e.value)


def test_eval_info_without_imageid(tmp_path):
    make_eval(tmp_path)
    pd.DataFrame({'image': ['a1.jpg'], 'ans': [0]}).to_csv(tmp_path / 'eval' / 'info.csv', index=False)
    with pytest.raises(MaskLabError, match=f'{tmp_path / "eval" / "info.csv"} has no column ImageID'): load_eval(tmp_path)


def test_eval_missing_info_and_wrong_split(tmp_path):
    make_eval(tmp_path)
    (tmp_path / 'eval' / 'info.csv').unlink()
    with pytest.raises(MaskLabError, match=f'missing {tmp_path / "eval" / "info.csv"}'): load_eval(tmp_path)
    make_train(tmp_path)
    with pytest.raises(MaskLabError, match='is the train folder'): load_eval(tmp_path / 'train')


# ---------------------------------------------------------------- folds

def test_folds_leak_free(tmp_path):
    folders = [f'{i:06d}_{"male" if i % 2 else "female"}_Asian_{20 + 7 * i}' for i in range(1, 11)]
    df, _ = load_train(make_train(tmp_path, folders), verify_images=False)
    out = add_person_folds(df, n_splits=5, seed=0)
    assert out.groupby('person')['fold'].nunique().max() == 1
    assert sorted(out['fold'].unique()) == [0, 1, 2, 3, 4]
    assert out['fold'].dtype == 'int64' and 'fold' not in df.columns
    assert add_person_folds(df, 5, seed=0)['fold'].tolist() == out['fold'].tolist()
    with pytest.raises(MaskLabError, match='cannot split 10 people into 11 folds'): add_person_folds(df, n_splits=11)
