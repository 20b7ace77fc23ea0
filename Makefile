# The one entry point for people, CI and scripts: `make help` lists the targets.
# Python work happens in .venv (created on demand); the host Rust build uses the cargo on PATH
# (rustup's); the WebAssembly build uses Debian's Rust through scripts/build_wasm.sh.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python
CARGO ?= cargo
RUST_SRC := $(shell find crates/solver/src -name '*.rs') crates/solver/Cargo.toml Cargo.toml Cargo.lock
PY_SRC := $(shell find python -name '*.py') pyproject.toml
INSTALLED := $(VENV)/.calab-installed
APT_WASM := rustc-web cargo-web rust-web-src lld-19 binaryen
APT_BROWSER := chromium

.DEFAULT_GOAL := help
.PHONY: help setup demo test test-rust test-python test-wasm test-web web-setup lint fmt wasm \
        wasm-check wasm-verify \
        system-deps bench clean wasm-core-check

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(INSTALLED): $(RUST_SRC) $(PY_SRC)
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -e ".[test,plot,dev]"
	@touch $@

setup: $(INSTALLED) ## create .venv and build/install calab (editable) with test tools

demo: setup ## run the main job on a built-in simulated recording, no browser (writes out/demo/)
	$(VENV)/bin/calab demo --headless

test: system-deps setup test-rust test-python test-wasm test-web ## set up and run every test suite (Rust, Python, WASM, web app)

test-rust: ## cargo tests of the solver core
	$(CARGO) test --release -p calab-solver

test-python: setup ## pytest (native extension, API, simulator, errors, docs)
	$(VPY) -m pytest -q

test-wasm: ## the committed pkg/ is fresh and behaves (Node)
	scripts/check_wasm.sh --fingerprint
	node --test tests/wasm/

node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

web-setup: node_modules/.package-lock.json ## install the web app's exact npm dependencies

test-web: web-setup setup ## typecheck, unit tests, build and browser tests of CaTune; the committed build is fresh
	npm run typecheck
	npm test
	npm run e2e
	@stale=$$(git status --porcelain -- python/calab/_webapp); if [ -n "$$stale" ]; then \
	  echo "$$stale"; echo "python/calab/_webapp is stale: run 'npm run build' and commit it"; exit 1; fi

lint: setup web-setup ## rustfmt, clippy (core, python and wasm features), ruff, mypy, stubtest, biome, tsc
	$(CARGO) fmt --all --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --all-targets --features python -- -D warnings
	$(CARGO) clippy --features wasm -- -D warnings
	$(VENV)/bin/ruff check python tests benchmarks
	$(VENV)/bin/mypy python/calab
	$(VPY) -m mypy.stubtest calab._solver  # the hand-written _solver.pyi matches the compiled module
	npm run lint
	npm run typecheck

fmt: ## format Rust and Python sources
	$(CARGO) fmt --all
	-$(VENV)/bin/ruff check --fix python tests benchmarks

system-deps: ## apt packages for the WebAssembly build and browser tests (root)
	@missing=""; for p in $(APT_WASM) $(APT_BROWSER); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

wasm: system-deps ## rebuild pkg/ from the current sources
	scripts/build_wasm.sh

wasm-check: ## cheap staleness check of pkg/ against the sources
	scripts/check_wasm.sh --fingerprint

wasm-verify: system-deps ## rebuild pkg/ in a fresh checkout elsewhere and compare byte for byte
	scripts/check_wasm.sh --fresh

bench: setup ## solver benchmark against calab 0.3.0 and OASIS (slow; --quick via BENCH_ARGS)
	benchmarks/peers/setup_peers.sh
	$(VPY) benchmarks/bench_solver.py $(BENCH_ARGS)

clean: ## remove build outputs (keeps .venv and pkg/)
	rm -rf target out

wasm-core-check: system-deps ## cargo check of the core alone for wasm32 (no features): no binding leaks in
	RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=target/wasm-core-check \
	  /usr/bin/cargo check -q -p calab-solver --no-default-features \
	  --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort
