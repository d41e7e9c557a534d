# The README's two commands:  make demo   and   make test
PY := .venv/bin/python
DEMO_CONFIG ?= configs/demo/faster_rcnn_iresnet18_shapes.py

.PHONY: install demo test test-fast lint check-env

install:
	bash tools/install.sh

demo: install
	$(PY) tools/train.py $(DEMO_CONFIG)

test: install
	$(PY) -m pytest tests

# the inner loop: everything but the slow tests (multi-process, SIGKILL,
# training and compilation runs); CI runs them all
test-fast: install
	$(PY) -m pytest tests -m "not slow"

# the house style (.pre-commit-config.yaml: flake8, isort, yapf, codespell,
# pre-commit-hooks' fixers), run with the tools of the lint extra; a fixer's
# change fails the run and shows its diff
lint: install
	PATH="$(CURDIR)/.venv/bin:$$PATH" $(PY) -m pre_commit run --all-files \
		--show-diff-on-failure

# CI: the floor environment (Python 3.9, torch 2.1, the lowest declared
# OpenMMLab versions): installing into it changes nothing, and the package
# works there (tools/ci/check_existing_env.sh)
check-env:
	bash tools/ci/check_existing_env.sh
