"Checks of `mask_lab.eda` without a browser: counts on hand-made tables, the dashboard's update logic, flags and the report."
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from mask_lab.core import IMAGE_STEMS, MaskLabError, encode_class
from mask_lab.data import add_person_folds, load_train
from mask_lab.demo_data import make_demo_data
from mask_lab.review import CORRECTION_COLUMNS, FLAG_COLUMNS, gallery_widget, flag_suspicious, eda_report, eda_report_from_folder, write_label_corrections
from mask_lab.eda import fig_age_histogram, fig_attribute_counts, fig_class_counts, fig_gender_age, filter_table, imbalance_ratio, label_counts, label_dashboard, old_group_sizes, person_table


def table(people):
    "An image table (no files) with 7 rows per (person, gender, age)."
    rows = [(p, f'/x/{p}/{s}.jpg', s, m, g, a) for p, g, a in people for s, m in IMAGE_STEMS.items()]
    df = pd.DataFrame(rows, columns=['person', 'path', 'image', 'mask', 'gender', 'age'])
    df['age_group'] = 0
    df['label'] = 0
    return df


PEOPLE = [('a', 0, 20), ('b', 1, 25), ('c', 1, 45), ('d', 0, 58), ('e', 1, 59), ('f', 1, 60), ('g', 0, 61)]


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    # its own data, not the shared `demo`: larger photos and no eval set, as the EDA checks need
    root = make_demo_data(tmp_path_factory.mktemp('eda') / 'demo', people=12, seed=3, eval_people=0, size=(96, 128))
    df, _ = load_train(root)
    return root, add_person_folds(df, n_splits=3)


def test_counts_follow_the_cutoffs():
    df = table(PEOPLE)
    c = label_counts(df)
    assert c['age_group'].to_dict() == {'<30': 14, '30-59': 21, '>=60': 14}
    assert c['mask'].tolist() == [5 * 7, 7, 7]
    assert c['class']['not_wear/female/>=60'] == 1 and c['class']['wear/male/>=60'] == 5
    assert label_counts(df, (30, 59))['age_group']['>=59'] == 21
    assert label_counts(df, (30, 58))['age_group']['>=58'] == 28
    assert old_group_sizes(df)['people'].to_dict() == {58: 4, 59: 3, 60: 2}
    assert imbalance_ratio(df) == 10.0                  # wear/female/30-59 (2 people x 5) over e.g. incorrect/male/<30
    assert imbalance_ratio(table(PEOPLE[:1])) == float('inf')


def test_person_table_and_figures_count_people():
    df = table(PEOPLE)
    people = person_table(df)
    assert people['age'].tolist() == [20, 25, 45, 58, 59, 60, 61] and set(people['images']) == {7}
    fig = fig_age_histogram(df, (30, 58))
    assert sum(fig.data[0].y) == 7 and [s.x0 for s in fig.layout.shapes] == [29.5, 57.5]
    assert np.array(fig_gender_age(df).data[0].z).tolist() == [[1, 1, 1], [1, 2, 1]]
    assert list(fig_attribute_counts(df).data[1].y) == [21, 28]
    assert list(fig_class_counts(df).data[0].y) == label_counts(df)['class'].tolist()


def test_filter_table_values():
    df = table(PEOPLE)
    assert filter_table(df, gender=['female'], age_range=(59, 60))['person'].unique().tolist() == ['e', 'f']
    assert len(filter_table(df, mask=['incorrect', 'not_wear'])) == 14
    with pytest.raises(MaskLabError, match="unknown mask status 'on_chin'"): filter_table(df, mask='on_chin')
    with pytest.raises(MaskLabError, match='must be \\(low, high\\)'): filter_table(df, age_range=5)


def test_dashboard_updates_in_place():
    df = add_person_folds(table(PEOPLE), n_splits=2)
    dash = label_dashboard(df, cutoffs=(30, 58))
    assert 'mask-lab-eda-dashboard' in dash._dom_classes
    classes, ages = dash.figures['classes'], dash.figures['ages']
    assert sum(ages.data[0].y) == 7
    dash.controls['gender'].value = 0              # a widget change refreshes like update()
    assert set(dash.filtered['gender']) == {0} and sum(ages.data[0].y) == 3
    dash.update(gender='female', mask='not_wear', age_range=(58, 70))
    assert dash.figures['classes'] is classes
    assert list(classes.data[0].y) == label_counts(filter_table(df, gender=1, mask=2, age_range=(58, 70)), (30, 58))['class'].tolist()
    assert sum(classes.data[0].y) == 2 and '2</b> photos of <b>2</b> people' in dash.summary.value
    dash.update(gender=None, mask=None, age_range=None, fold=1)
    assert len(dash.filtered) == 7 * (df.groupby('person')['fold'].first() == 1).sum()
    dash.update(fold=None)
    assert [dash.controls[k].label for k in ('gender', 'mask', 'fold')] == ['all'] * 3   # unfiltered reads 'all', not blank


def test_dashboard_state_is_small_and_titles_finite():
    import json
    df = table(PEOPLE)
    dash = label_dashboard(df)
    dash.update(gender='male')
    assert 'inf' not in dash.figures['classes'].layout.title.text
    state = sum(len(json.dumps(v.get_state(), default=str)) for v in dash.views.values())
    assert state < 100_000, state            # the figures' data, not plotly.js (5 MB per FigureWidget)
    assert repr(dash).startswith('<LabelDashboard of 49 photos')


def test_gallery_shows_its_errors(demo, tmp_path):
    root, df = demo
    copy = tmp_path / 'copy'
    shutil.copytree(root, copy)
    gw = gallery_widget(load_train(copy)[0])
    first = bytes(gw.image.value)
    shutil.rmtree(copy)                          # the photos go away after the widget was drawn
    gw.kind.value = 'class'                      # a click: no exception escapes, the message is in the widget
    assert 'FileNotFoundError' in gw.error.value or 'No such file' in gw.error.value, gw.error.value
    assert gw.current is None and bytes(gw.image.value) != first


def test_swap_is_flagged_and_written(demo, tmp_path):
    root, df = demo
    before = flag_suspicious(df)
    assert list(before.columns) == FLAG_COLUMNS
    person = next(p for p in sorted(df['person'].unique()) if p not in set(before['person']))
    bad = tmp_path / 'bad'
    shutil.copytree(root, bad)
    folder = next((bad / 'train' / 'images').glob(f'{person}_*'))
    (folder / 'normal.jpg').rename(folder / 'x.jpg')
    (folder / 'mask3.jpg').rename(folder / 'normal.jpg')
    (folder / 'x.jpg').rename(folder / 'mask3.jpg')
    flags = flag_suspicious(load_train(bad)[0])
    mine = flags[flags['person'] == person]
    assert ((mine['rule'] == 'bare_mask_photo') & (mine['image'] == 'mask3')).any(), mine
    csv = pd.read_csv(write_label_corrections(mine, tmp_path / 'fix' / 'corrections.csv'), dtype=str)
    assert list(csv.columns) == CORRECTION_COLUMNS
    assert {('mask3', 'normal'), ('normal', 'mask3')} <= set(zip(csv['field'], csv['value']))


def test_report_is_standalone(demo, tmp_path):
    root, df = demo
    out = eda_report_from_folder(root, tmp_path / 'r' / 'report.html', cutoffs=(30, 59))
    assert out == tmp_path / 'r' / 'report.html'
    text = out.read_text()
    assert not re.search(r'<script[^>]*\bsrc\s*=', text, re.I)
    assert not re.search(r'<(link|img)[^>]*(href|src)\s*=\s*["\']?(https?:)?//', text, re.I)
    assert text.count('window.PlotlyConfig') == 1 and text.count('Plotly.newPlot(') == 4
    assert '&gt;=59' in text and 'Data problems' in text
    with pytest.raises(MaskLabError, match='data folder not found'): eda_report_from_folder(tmp_path / 'nope', tmp_path / 'x.html')
