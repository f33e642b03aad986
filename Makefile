# picfind's one task runner. `make demo` and `make test` are the README's set-up.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SHARED ?= $(abspath ../shared)
PHOTOS ?= $(SHARED)/data/catsdogs
QUERY  ?= $(SHARED)/data/imagenet-samples/n02124075_Egyptian_cat.JPEG
OUT    ?= demo-out
export PICFIND_SHARED := $(SHARED)

.PHONY: install demo test lint format bench vocabulary clean opensearch opensearch-stop bench-cluster

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: install
	PHOTOS="$(PHOTOS)" QUERY="$(QUERY)" OUT="$(OUT)" PATH="$(abspath $(BIN)):$$PATH" bash scripts/demo.sh

lint: install
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix src tests bench scripts
	$(BIN)/ruff format src tests bench scripts

test: lint
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python bench/run.py

# A local OpenSearch node from Maven Central (tools/opensearch); the URL is the last line.
opensearch:
	@$(PYTHON) tools/opensearch/node.py start

opensearch-stop:
	@$(PYTHON) tools/opensearch/node.py stop

bench-cluster: install
	$(BIN)/python bench/cluster.py

vocabulary: install
	$(BIN)/python scripts/build_vocabulary.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .ruff_cache
