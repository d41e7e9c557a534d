# The README's two commands:  make demo   and   make test
PY := .venv/bin/python
DEMO_CONFIG ?= configs/demo/faster_rcnn_iresnet18_shapes.py

.PHONY: install demo test

install:
	bash tools/install.sh

demo: install
	$(PY) tools/train.py $(DEMO_CONFIG)

test: install
	$(PY) -m pytest tests
