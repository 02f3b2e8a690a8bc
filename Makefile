# sarcube: `make demo` runs the main job on embedded defaults, `make test` runs the tests.
# Both bootstrap everything from the package index: uv into .tools/, then the locked .venv.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .tools/bin/uv
VENV := .venv
RUN := $(UV) run --frozen --no-sync
DEMO_DIR ?= demo-output
DEMO_ARGS ?=
PYTEST_ARGS ?=
FUZZ_EXAMPLES ?= 200
ISCE2_VERSION := 2.6.5

.PHONY: help setup demo test test-slow fuzz bench lint clean isce2

help:
	@echo "make demo   simulate a small stack, ingest it, compute ARD, serve it on 127.0.0.1:8000"
	@echo "make test   run the test suite (fast tests; make test-slow adds full-size ones)"
	@echo "make fuzz   fuzz every API operation longer than make test does (FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) per pass)"
	@echo "make lint   ruff (style, docstrings), mypy (types) and the import contract"
	@echo "make bench  run the benchmarks, write benchmarks/results/ and docs/performance.md"
	@echo "make isce2  build ISCE2 $(ISCE2_VERSION) from ../shared/vendor/isce2 into .tools/ for .venv (docs/isce2.md)"

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV)/.synced: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen --compile-bytecode  # .pyc in the venv: every process starts without compiling its imports
	touch $@

# The web viewer's MapLibre GL files, from the locked npm packages (needs node and npm).
VIEWER_VENDOR := cube/api/viewer/static/vendor/maplibre-gl.js
$(VIEWER_VENDOR): cube/api/viewer/package-lock.json
	bash cube/api/viewer/build.sh || { [ -z "$${CI:-}" ] || { echo "viewer not built and CI is set: install nodejs and npm" >&2; exit 1; }; echo "viewer not built (needs node and npm): / answers 503, its tests skip"; }

# EGM96 for DEM heights: Debian's proj-data ships /usr/share/proj/egm96_15.gtx (docs/geometry.md).
GEOID_GRID := /usr/share/proj/egm96_15.gtx
setup: $(VENV)/.synced $(VIEWER_VENDOR)
	@test -f $(GEOID_GRID) || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq proj-data >/dev/null; }; } \
	  || echo "no $(GEOID_GRID): install Debian's proj-data (geoid heights need EGM96; its tests fail without it)"

demo: setup
	$(RUN) sarcube demo --out $(DEMO_DIR) $(DEMO_ARGS)

test: setup
	$(RUN) pytest -m "not slow" $(PYTEST_ARGS)

test-slow: setup
	$(RUN) pytest -m slow $(PYTEST_ARGS)

# The API fuzz test of make test with more examples per operation: no request may answer 500.
fuzz: setup
	SARCUBE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(RUN) pytest tests/integration/test_fuzz_api.py -k answers_500 -s $(PYTEST_ARGS)

# ISCE2 from the pinned source, for the isce2 engine (Debian packages: containers/isce2/build.sh).
isce2: $(VENV)/.synced
	ISCE2_VERSION=$(ISCE2_VERSION) bash containers/isce2/build.sh $(VENV)/bin/python

bench: setup
	$(RUN) python benchmarks/run.py

# Style and docstrings (ruff), types (mypy, configured in pyproject.toml), and the import contract.
lint: setup
	$(RUN) ruff check cube functions tests benchmarks
	$(RUN) mypy
	$(RUN) pytest tests/unit/test_architecture.py -q

clean:
	rm -rf .tools $(VENV) $(DEMO_DIR)
