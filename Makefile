# The two commands of the README, each doing all its own set-up on a fresh machine:
#   make demo   fine-tune the bundled MiniLM-L6 on the bundled demo data (the main job), offline
#   make test   the whole test suite, browser pieces included (CI runs exactly this, see .ci/run)
# Both create or reuse the virtual environment $(VENV). PyTorch: with none installed, $(TORCH) is installed first
# (the CPU build here; on a GPU box use e.g. TORCH="torch --index-url https://download.pytorch.org/whl/cu126",
# or install torch into the venv yourself: an existing torch is kept).

VENV ?= .venv
TORCH ?= torch==2.13.0
PY := $(VENV)/bin/python

.PHONY: demo test browser

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e ".[test]"
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/tunelab fit

browser:
	bash .ci/install-browser

test: $(VENV)/.installed browser
	TUNELAB_BERTVIZ_JS=$${TUNELAB_BERTVIZ_JS:-$(CURDIR)/.ci/.cache/browser-js} $(PY) -m pytest -q
