# The README's commands. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
# The pinned uv from the tool cache (tools/install-uv.sh installs it on first use), never
# whatever uv happens to be on PATH: a fresh machine and a developer's get the same one.
UV = $(or $(UV_BIN),$(eval UV_BIN := $(shell tools/install-uv.sh))$(UV_BIN))

# Parallel test workers: 3 keeps 2 cores busy (most tests wait on real components).
TEST_WORKERS ?= 3

.PHONY: install up quickstart tools test test-fast golden lint bench

install:  ## stackkit and its locked dependencies in .venv (the pinned uv is installed from PyPI if missing)
	@test -n "$(UV)" || { echo "make: cannot install uv (see the message above)" >&2; exit 1; }
	@# Bytecode compiled at install (uv does not by default): a venv that cannot be written to,
	@# or PYTHONDONTWRITEBYTECODE, would otherwise compile every import on every run (render
	@# 0.65 s instead of 0.35 s, and the same on `stackkit env`'s cold path).
	$(UV) sync --frozen --compile-bytecode

up: install  ## install, then bring the stack up on this machine's Docker (see tools/local-stack.sh)
	tools/local-stack.sh $(CONFIG)

quickstart: install  ## install, write a starter config, render the stack's configuration
	@test -f stackkit.yaml || .venv/bin/stackkit init
	.venv/bin/stackkit render -o out

tools:  ## build or fetch every real component the tests use (cached in ~/.cache/stackkit-tools)
	tools/build-all.sh

lint: install  ## ruff (lint, format check) and mypy --strict on stackkit/ and stacks/
	$(UV) run --frozen ruff check stackkit stacks tests bench
	$(UV) run --frozen ruff format --check stackkit stacks tests bench
	$(UV) run --frozen mypy

test: install lint  ## lint, then the whole test suite against the real components
	@# Missing tools build in the background meanwhile; each test waits for the ones it needs.
	tools/build-all.sh --detach
	@# Two passes: the tests in parallel (they mostly wait on real components; a module, or all of
	@# the one Kubernetes cluster's tests, per worker), then the few that need the machine alone.
	$(UV) run --frozen pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder -m "not alone"; \
	  parallel=$$?; \
	  $(UV) run --frozen pytest -m alone; alone=$$?; \
	  exit $$(( parallel ? parallel : alone ))

test-fast: install  ## only the tests that need no built tools (and a guard: nothing is built)
	STACKKIT_NO_TOOL_BUILDS=1 $(UV) run --frozen pytest -m "not integration" --ignore=tests/tools

golden: install  ## rewrite tests/golden from examples/
	$(UV) run --frozen pytest tests/test_golden.py --update-golden

bench: install tools  ## the short benchmarks (env, render, load at 100 and 1,000 developers, up), written to bench/results*.md
	$(UV) run --frozen python bench/startup.py --write bench/results.md
	$(UV) run --frozen python bench/load.py --short --write bench/results-load-short.md
	$(UV) run --frozen python bench/up.py --runs 3 --kube-runs 1 --write bench/results-up.md
