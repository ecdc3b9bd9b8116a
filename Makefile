# Two commands matter: `make run` (the whole stack on the embedded database) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PROTOS := $(wildcard proto/aegis/v1/*.proto)

.PHONY: install compiled run test lint proto proto-check docs docs-check clean bench bench-alerts

install: $(STAMP) compiled

# Three distributions from one checkout, all editable: aegis-proto (generated/), aegis-sdk (sdk/)
# and the server (this directory), which depends on both.
$(STAMP): pyproject.toml generated/pyproject.toml sdk/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e ./generated -e ./sdk -e '.[dev]'
	touch $(STAMP)

# The ingest hot path's modules as C extensions (setup.py, collector/app/compiled.py): rebuilt when
# their .py changed, in about a second when none did. AEGIS_PURE_PYTHON=1 skips it.
compiled: $(STAMP)
	@if [ -z "$$AEGIS_PURE_PYTHON" ]; then $(PY) setup.py --quiet build_ext --inplace --parallel 2; fi

run: install
	$(PY) -m stack

# Ingest throughput, collector CPU and memory against the goals; writes bench/results.json.
# Then bench.ops: ingest with 0/1/50 live-tail subscribers and a 1M-event export's RSS
# (adds "ops" to results.json). Then bench.explore: event search, traces, sessions, users and
# a 30-day grouped rule on 1M LLM calls sent through the API (BENCH_EXPLORE_EVENTS; adds
# "explore"). Then bench.drift: the cost of summarising a 1,000-row x 20-feature batch (prints).
# Then bench.ml_drift: ML ingest with features against without (100 rows x 10 features), and
# GET /dashboard/ml-drift over 30 days with 20 features at two history sizes sent through the
# API (BENCH_DRIFT_SMALL / BENCH_DRIFT_LARGE; adds "drift").
bench: install
	$(PY) -m bench
	$(PY) -m bench.ops
	$(PY) -m bench.explore
	$(PY) -m bench.drift
	$(PY) -m bench.ml_drift

# One 7-day alert rule's evaluation time at two sizes of a tenant's history, sent through the
# gRPC API with the jobs running (BENCH_ALERT_SMALL / BENCH_ALERT_LARGE, 100k and 1M events by
# default: long on a busy machine); adds "alerts" to bench/results.json. Not part of `make bench`.
bench-alerts: install
	$(PY) -m bench.alerts

test: install proto-check docs-check lint
	$(PY) -m pytest

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

# Regenerate generated/ from proto/. The output is committed.
proto: install
	rm -rf generated/aegis
	$(PY) scripts/gen_proto.py generated

# Fails when the committed generated/ differs from what proto/ produces.
proto-check: install
	rm -rf .proto-check && mkdir -p .proto-check
	$(PY) scripts/gen_proto.py .proto-check
	diff -r -x __pycache__ generated/aegis .proto-check/aegis || { echo "generated/ is stale: run 'make proto' and commit"; exit 1; }
	rm -rf .proto-check

# Regenerate docs/configuration.md from the settings classes' Field descriptions. Committed.
docs: install
	$(PY) scripts/gen_config_docs.py

# Fails when docs/configuration.md differs from what the settings classes produce, or when a
# setting has no description. (Links and anchors of README.md and docs/ are checked by
# tests/test_docs.py.)
docs-check: install
	$(PY) scripts/gen_config_docs.py --check

clean:
	rm -rf $(VENV) .proto-check .pytest_cache .mypy_cache .ruff_cache build
	find aegis_shared collector -name '*.so' -delete
