"Duplicates before the split: exact copies resolved, near duplicates of different people never on both sides of a split."
import shutil

import pandas as pd
from PIL import Image, ImageOps

from mask_lab.config import TrainConfig
from mask_lab.dedup import NEAR_DISTANCE, near_pairs
from mask_lab.train import load_split


def _with_duplicates(demo, tmp_path):
    "A copy of the demo folder where 4 people hold a re-saved copy of another person's photo, and a photo table of copies."
    data = tmp_path / 'dup'
    shutil.copytree(demo, data)
    people = sorted(p for p in (data / 'train' / 'images').iterdir())
    for src, dst, stem in [(0, 5, 'mask1'), (1, 9, 'normal'), (2, 13, 'mask4'), (3, 17, 'incorrect_mask')]:
        Image.open(people[src] / f'{stem}.jpg').save(people[dst] / f'{stem}.jpg', quality=70)   # near duplicate, other bytes
    table = tmp_path / 'table'; (table / 'images').mkdir(parents=True)
    shutil.copy(people[4] / 'mask2.jpg', table / 'images' / 'same.jpg')        # an exact copy with the same mask status
    shutil.copy(people[6] / 'mask3.jpg', table / 'images' / 'other.jpg')       # an exact copy labelled as no mask
    ImageOps.mirror(Image.open(people[7] / 'normal.jpg')).save(table / 'images' / 'new.jpg')   # a new photo
    (table / 'labels.csv').write_text('file,mask\nsame.jpg,worn\nother.jpg,none\nnew.jpg,none\n')
    return data, table, people


def test_a_duplicate_photo_never_lands_on_both_sides_of_a_split(demo, tmp_path):
    data, table, people = _with_duplicates(demo, tmp_path)
    for seed in range(3):
        df, problems = load_split(TrainConfig(data=[str(data), str(table)], n_splits=5, seed=seed))
        full = df[df.fold >= 0].reset_index(drop=True)
        pairs = near_pairs(full.phash, NEAR_DISTANCE)
        pairs = pairs[full.person.to_numpy()[pairs.a] != full.person.to_numpy()[pairs.b]]
        assert len(pairs) == 4
        assert (full.fold.to_numpy()[pairs.a] == full.fold.to_numpy()[pairs.b]).all()
        assert df.groupby('person').fold.nunique().max() == 1
        near = problems[problems.reason.str.contains('near duplicate of')]
        assert sorted(near.path) == sorted(str(people[d] / f'{s}.jpg') for d, s in
                                           [(5, 'mask1'), (9, 'normal'), (13, 'mask4'), (17, 'incorrect_mask')])


def test_exact_copies_kept_once_or_left_out_and_named(demo, tmp_path):
    data, table, people = _with_duplicates(demo, tmp_path)
    df, problems = load_split(TrainConfig(data=[str(data), str(table)], n_splits=5))
    why = dict(zip(problems.path, problems.reason))
    same, other = str(table / 'images' / 'same.jpg'), str(table / 'images' / 'other.jpg')
    assert same not in set(df.path) and str(people[4] / 'mask2.jpg') in set(df.path)
    assert why[same] == f'exact copy of {people[4] / "mask2.jpg"} (same bytes, same label): kept once, this copy left out'
    for path in (other, str(people[6] / 'mask3.jpg')):
        assert path not in set(df.path) and 'another label' in why[path] and 'both left out' in why[path]
    assert str(people[6] / 'mask3.jpg') in why[other] and other in why[str(people[6] / 'mask3.jpg')]
    assert str(table / 'images' / 'new.jpg') in set(df.path)
    resumed, _ = load_split(TrainConfig(data=[str(data), str(table)], n_splits=5))   # the same table again: a run resumes
    pd.testing.assert_frame_equal(resumed[['person', 'image', 'label', 'fold']], df[['person', 'image', 'label', 'fold']])


def test_eda_report_shows_the_duplicate_groups(demo, tmp_path):
    from mask_lab.review import eda_report
    data, _, people = _with_duplicates(demo, tmp_path)
    page = eda_report(data, tmp_path / 'report.html', sample=20, gallery=1).read_text()
    section = page[page.index('<h2>Duplicates</h2>'):]
    assert '4 groups of copies (8 photos)' in section and '<img alt="duplicate groups"' in section
    clean = eda_report(demo, tmp_path / 'clean.html', sample=20, gallery=1).read_text()
    assert '0 groups of copies (0 photos)' in clean and 'alt="duplicate groups"' not in clean
