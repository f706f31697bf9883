# memray (Rust): build, install, demo, test and benchmark.
#
#   make demo     build, install into a virtualenv, profile examples/demo.py, show its stats
#   make test     build and run every Rust and Python test
#   make install  build (release) and install the `memray` package and all memray-* programs
#                 into the active virtualenv, or into ./.venv when none is active
#   make bench    side-by-side benchmarks against Memray (see bench/)
#   make test-versions   the Python end-to-end suite on every supported CPython (PYTHONS=...)
#   make soak     a 30-minute tracked run under load (bench/results/soak-*.md)
#   make fuzz     every fuzz target for FUZZ_SECONDS seconds each (see fuzz/README.md)
#
# PYTHON=/path/to/python3.X builds, installs, tests and benchmarks with that interpreter, in its
# own virtualenv .venvs/<version> (the default python3 uses ./.venv).

SHELL := /bin/bash
PYTHON ?= python3
ifdef VIRTUAL_ENV
VENV := $(VIRTUAL_ENV)
else ifeq ($(PYTHON),python3)
VENV := $(CURDIR)/.venv
else
VENV := $(CURDIR)/.venvs/$(shell $(PYTHON) -c "import platform; print(platform.python_version())")
endif
VPY := $(VENV)/bin/python
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: all venv test-deps native-deps install install-demo install-share wheel test-wheel \
	node-tools browser tmux gdb demo test test-rust test-python \
	test-versions python313 lint bench man completions clean fuzz fuzz-build soak \
	fuzz-seeds fuzz-merge

all: install

$(VPY):
	$(PYTHON) -m venv $(VENV)

# What the build needs (maturin), installed only when missing.
venv: $(VPY)
	@$(VPY) -c "import maturin" 2>/dev/null || \
		$(VPY) -m pip install --quiet --disable-pip-version-check "maturin>=1.5,<2"

# Python packages the tests need, installed only when missing (gprof2dot, jsonschema and
# protobuf read `memray transform`'s output in tests/test_transform.py; numpy's native frames
# are checked in tests/test_native.py; mypy checks the package's types in tests/test_typing.py).
test-deps: venv
	@$(VPY) -c "import pytest, gprof2dot, jsonschema, google.protobuf" 2>/dev/null || \
		$(VPY) -m pip install --quiet --disable-pip-version-check "pytest>=7" \
			"gprof2dot" "jsonschema>=4" "protobuf>=4"
	@$(VPY) -c "import xdist" 2>/dev/null || \
		$(VPY) -m pip install --quiet --disable-pip-version-check "pytest-xdist>=3"
	@$(VPY) -c "import IPython" 2>/dev/null || \
		$(VPY) -m pip install --quiet --disable-pip-version-check "ipython>=8"
	@$(VPY) -c "import selenium" 2>/dev/null || \
		$(VPY) -m pip install --quiet --disable-pip-version-check "selenium>=4.10"
	@$(VPY) -c "import numpy" 2>/dev/null || \
		$(VPY) -m pip install --quiet --disable-pip-version-check numpy
	@$(VPY) -c "import mypy" 2>/dev/null || \
		$(VPY) -m pip install --quiet --disable-pip-version-check "mypy>=1.5"

# npm packages the tests use, installed only when missing into tests/.node: speedscope (its
# file-format JSON schema) and pprof-format (a second, independent pprof decoder).
NODE_TOOLS := $(CURDIR)/tests/.node
node-tools:
	@[ -f $(NODE_TOOLS)/node_modules/speedscope/package.json ] && \
		[ -f $(NODE_TOOLS)/node_modules/pprof-format/package.json ] || \
		npm install --silent --no-audit --no-fund --prefix $(NODE_TOOLS) speedscope pprof-format

# Headless Chromium and its WebDriver (Debian's packages) for tests/test_reports_browser.py,
# installed only when missing.
browser:
	@[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] || \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; }

# tmux (Debian's package) for tests/test_live.py, which drives the live UI in a real terminal;
# installed only when missing.
tmux:
	@command -v tmux >/dev/null 2>&1 || \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y tmux; }

# gdb (Debian's package), which `memray attach` and `memray detach` use to get into a running
# process (tests/test_attach.py); installed only when missing.
gdb:
	@command -v gdb >/dev/null 2>&1 || \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y gdb; }

# libunwind (Debian's libunwind-dev), which the tracker links to unwind native stacks for
# `--native`; installed only when missing.
native-deps:
	@echo '#include <libunwind.h>' | $(CC) -E - >/dev/null 2>&1 || \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y libunwind-dev; }

# memray._test_utils (capture/testmod) is its own extension module, built with the same pyo3
# configuration maturin uses for memray._memray (so the two share one build of pyo3) and copied
# into the package before maturin installs it.
EXT_SUFFIX = $(shell $(VPY) -c "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))" 2>/dev/null)
PYO3_SIGNATURE = $(shell $(VPY) -c "import sys, platform; print(f'cpython-{sys.version_info[0]}.{sys.version_info[1]}-{platform.architecture()[0]}')" 2>/dev/null)

# `make install` and `make demo`: memray._memray (maturin, profile `tracker`) into the
# virtualenv in development mode, then the programs built with the cargo arguments $(1), the man
# pages and the completions. target/wheel-data (what `make wheel` staged) goes first, so that
# maturin does not install a wheel's programs over these.
define install-memray
	$(CARGO) build --release -p memray-tools $(1)
	rm -rf target/wheel-data && mkdir -p target/wheel-data
	VIRTUAL_ENV=$(VENV) PATH="$(VENV)/bin:$$PATH" $(VENV)/bin/maturin develop --profile tracker --quiet
	@for f in target/release/memray target/release/memray-*; do \
		case "$$f" in *.d) continue;; esac; \
		[ -x "$$f" ] && [ -f "$$f" ] && install -m 0755 "$$f" $(VENV)/bin/; \
	done; true
	@$(MAKE) --no-print-directory install-share PREFIX=$(VENV)
	@echo "installed memray into $(VENV)"
endef

# Everything: every program and memray._test_utils (which the tests use).
install: venv native-deps
	PYO3_PYTHON=$(VPY) PYO3_ENVIRONMENT_SIGNATURE=$(PYO3_SIGNATURE) \
		$(CARGO) build --profile tracker -p memray-testmod
	install -m 0755 target/tracker/lib_test_utils.so capture/python/memray/_test_utils$(EXT_SUFFIX)
	$(call install-memray,--bins)

# What `make demo` runs, and no more.
DEMO_PROGRAMS := memray memray-capture memray-stats memray-flamegraph memray-table memray-summary
install-demo: venv native-deps
	$(call install-memray,$(DEMO_PROGRAMS:%=--bin %))

# The man pages and the bash, zsh and fish completions, into PREFIX/share (where the wheel
# puts them too).
install-share:
	@install -d $(PREFIX)/share/man/man1 $(PREFIX)/share/bash-completion/completions \
		$(PREFIX)/share/zsh/site-functions $(PREFIX)/share/fish/vendor_completions.d
	@install -m 0644 man/*.1 $(PREFIX)/share/man/man1/
	@install -m 0644 completions/bash/* $(PREFIX)/share/bash-completion/completions/
	@install -m 0644 completions/zsh/* $(PREFIX)/share/zsh/site-functions/
	@install -m 0644 completions/fish/* $(PREFIX)/share/fish/vendor_completions.d/

# One wheel with everything (the extension, memray._test_utils, every memray-* program, the man
# pages and completions) and the sdist that builds it, in dist/. The build backend is
# build-backend/memray_build_backend.py; `make test-wheel` installs the wheel into a fresh
# virtualenv without cargo and runs it there (tests/test_wheel.py).
wheel: venv native-deps
	@$(VPY) -c "import build" 2>/dev/null || \
		$(VPY) -m pip install --quiet --disable-pip-version-check "build>=1"
	rm -rf dist
	PATH="$(VENV)/bin:$$PATH" $(VPY) -m build --no-isolation --sdist --wheel --outdir dist .

test-wheel: wheel test-deps
	MEMRAY_TEST_WHEEL_DIR=$(CURDIR)/dist $(VPY) -m pytest -q tests/test_wheel.py

demo: install-demo
	@mkdir -p demo-output
	$(VENV)/bin/memray run -f -o demo-output/demo.bin examples/demo.py
	$(VENV)/bin/memray stats demo-output/demo.bin
	@$(VENV)/bin/memray-stats --json demo-output/demo.bin > demo-output/stats.json
	@$(VENV)/bin/memray flamegraph -f -o demo-output/flamegraph.html demo-output/demo.bin
	@$(VENV)/bin/memray table -f -o demo-output/table.html demo-output/demo.bin
	@$(VENV)/bin/memray summary demo-output/demo.bin
	@echo
	@echo "Capture:     demo-output/demo.bin"
	@echo "Stats JSON:  demo-output/stats.json"
	@echo "Flame graph: demo-output/flamegraph.html"
	@echo "Table:       demo-output/table.html"

test: install test-rust test-python

test-rust:
	$(CARGO) test --workspace --exclude memray-tracker --exclude memray-testmod
	$(CARGO) test -p memray-tracker --lib

test-python: install test-deps node-tools browser tmux gdb
	PATH="$(VENV)/bin:$$PATH" MEMRAY_TEST_NODE_MODULES=$(NODE_TOOLS)/node_modules \
		$(VPY) -m pytest -q tests

# The interpreters `make test-versions` runs the end-to-end suite on (scripts/find-python.sh
# says how a name is found): pyenv's 3.9 to 3.13, and a 3.13 built from Debian's source package
# (the newest patch release these machines can have), which `make python313` builds once per
# machine into ~/.cache/memray-rs.
PYTHONS ?= 3.9 3.10 3.11 3.12 3.13 3.13-debian

python313:
	@scripts/build-python313.sh >/dev/null

test-versions: $(if $(filter 3.13-debian,$(PYTHONS)),python313)
	@scripts/test-versions.sh $(PYTHONS)

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# The man pages (man/) and shell completions (completions/), generated from the programs' clap
# definitions; tools/tests/{man_pages,completions}.rs check that the committed files are current.
man:
	$(CARGO) run --quiet -p memray-tools --features generators --bin gen-man -- man

completions:
	rm -rf completions
	$(CARGO) run --quiet -p memray-tools --features generators --bin gen-completions -- completions

# A long run under load (not part of `make test`): bench/soak/run.py, SOAK_SECONDS (30 min).
SOAK_SECONDS ?= 1800
soak: install
	$(VPY) bench/soak/run.py --duration $(SOAK_SECONDS) --work target/soak

bench: install
	$(MAKE) -C bench bench VENV=$(VENV) PYTHON=$(VPY)

# Coverage-guided fuzzing with libFuzzer (fuzz/README.md). The targets are built on the stable
# toolchain with the SanitizerCoverage instrumentation libFuzzer reads (the flags cargo-fuzz
# passes, without a sanitizer), for the host target so that build scripts and proc-macros are
# left uninstrumented. New inputs go to target/fuzz/work/<target> (`make fuzz-merge` folds
# them, minimized, into fuzz/corpus); crashers go to fuzz/regressions/<target>, which `make
# test` replays.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := file tail records aggregate live report
FUZZ_HOST := $(shell rustc -vV | sed -n 's/^host: //p')
FUZZ_BIN := target/fuzz/$(FUZZ_HOST)/fuzz
FUZZ_RUSTFLAGS := --cfg fuzzing -Cpasses=sancov-module \
	-Cllvm-args=-sanitizer-coverage-level=4 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
	-Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares
FUZZ_FLAGS := -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1

fuzz-build:
	RUSTFLAGS="$(FUZZ_RUSTFLAGS)" $(CARGO) build --profile fuzz -p memray-fuzz \
		--features libfuzzer $(FUZZ_TARGETS:%=--bin fuzz-%) --target $(FUZZ_HOST) --target-dir target/fuzz

fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p target/fuzz/work/$$t fuzz/regressions/$$t; \
		echo "fuzzing $$t for $(FUZZ_SECONDS) s"; \
		$(FUZZ_BIN)/fuzz-$$t $(FUZZ_FLAGS) -max_total_time=$(FUZZ_SECONDS) \
			-artifact_prefix=fuzz/regressions/$$t/ target/fuzz/work/$$t fuzz/corpus/$$t \
			2>target/fuzz/work/$$t.log || { tail -40 target/fuzz/work/$$t.log; exit 1; }; \
		grep -E "^stat::number_of_executed_units|^#[0-9]+ +DONE" target/fuzz/work/$$t.log | tr '\n' ' '; echo; \
	done

# Folds what `make fuzz` found into fuzz/corpus, keeping the named seeds and only the inputs
# that add coverage.
fuzz-merge: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
		rm -rf target/fuzz/merged/$$t && mkdir -p fuzz/corpus/$$t target/fuzz/merged/$$t; \
		cp fuzz/corpus/$$t/seed-* target/fuzz/merged/$$t/ 2>/dev/null; \
		$(FUZZ_BIN)/fuzz-$$t $(FUZZ_FLAGS) -merge=1 target/fuzz/merged/$$t \
			fuzz/corpus/$$t target/fuzz/work/$$t 2>/dev/null; \
		rm -rf fuzz/corpus/$$t && mv target/fuzz/merged/$$t fuzz/corpus/$$t; \
	done

# Real captures (fuzz/seed_captures.py) turned into each target's seeds in fuzz/corpus.
fuzz-seeds: install
	@rm -rf target/fuzz/seed-captures && mkdir -p target/fuzz/seed-captures
	$(VPY) fuzz/seed_captures.py target/fuzz/seed-captures
	$(CARGO) run -q -p memray-fuzz --bin memray-fuzz-seeds -- fuzz/corpus target/fuzz/seed-captures/*.bin

clean:
	$(CARGO) clean
	rm -rf demo-output
