import os

import pytest

# Loaders use num_workers=0 and tests stay small under IN_TEST, as in nbdev_test.
os.environ.setdefault('IN_TEST', '1')


@pytest.fixture(scope='session')
def demo(tmp_path_factory):
    "One demo data folder (20 people, seed 0) for every test module that only reads it."
    from mask_lab.demo_data import make_demo_data
    return make_demo_data(tmp_path_factory.mktemp('demo') / 'demo', people=20, seed=0)
