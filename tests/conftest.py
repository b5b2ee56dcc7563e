import os

# Loaders use num_workers=0 and tests stay small under IN_TEST, as in nbdev_test.
os.environ.setdefault('IN_TEST', '1')
