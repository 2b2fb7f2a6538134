# q2-mgm: `make demo` and `make test` install what is missing first.
VENV := .venv
PY := $(VENV)/bin/python
QIIME := $(VENV)/bin/qiime
STAMP := $(VENV)/.installed
DEMO := demo-output
DATA := q2_mgm/example_data
WHEEL_DIR := .cache/wheels
PUBLISHED_WHEEL := $(WHEEL_DIR)/microformer_mgm-0.5.8-py3-none-any.whl

# A second platform: QIIME 2 2024.10 built from its sources (no system site
# packages), with q2-mgm installed by the README's steps for an existing
# QIIME 2 environment.
QIIME2_SOURCES ?= ../shared/vendor/qiime2-2024.10
Q2_VENV := .venv-qiime2-2024.10
Q2_PY := $(Q2_VENV)/bin/python
Q2_DEMO := demo-output-qiime2-2024.10
# The library layer alone (no QIIME 2) on Python 3.12 with numpy 2.
# The first Python 3.12 that runs (pyenv's shims do not, unless selected).
PYTHON312 ?= $(shell for p in $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12) \
	$$(command -v python3.12); do $$p -c '' 2>/dev/null && { echo $$p; break; }; done)
LIB_VENV := .venv-library
LIB_TESTS := q2_mgm/tests/test_library.py q2_mgm/tests/test_forward.py q2_mgm/tests/test_published.py

.PHONY: install install-package demo test test-fast bench galaxy clean \
	test-qiime2-2024.10 test-library galaxy-tools test-galaxy
PYTHON ?= python

install: $(STAMP)

$(STAMP): setup.py requirements.txt scripts/install.sh
	bash scripts/install.sh

# The published wheel, only for the weight-parity test (never imported).
$(PUBLISHED_WHEEL): | $(STAMP)
	$(PY) -m pip download -q --no-deps -d $(WHEEL_DIR) microformer-mgm==0.5.8

demo: $(STAMP)
	bash scripts/demo.sh $(QIIME) $(DATA) $(DEMO)

test: $(STAMP) $(PUBLISHED_WHEEL)
	Q2_MGM_PUBLISHED_WHEEL=$(PUBLISHED_WHEEL) $(PY) -m pytest -q -p no:cacheprovider q2_mgm

# The quick loop while developing: everything but the tests marked slow.
test-fast: $(STAMP) $(PUBLISHED_WHEEL)
	Q2_MGM_PUBLISHED_WHEEL=$(PUBLISHED_WHEEL) $(PY) -m pytest -q -p no:cacheprovider -m "not slow" q2_mgm

$(Q2_VENV)/.installed: scripts/qiime2_from_sources.sh
	@test -d $(QIIME2_SOURCES) || { echo "No QIIME 2 sources in $(QIIME2_SOURCES): set QIIME2_SOURCES"; exit 2; }
	bash scripts/qiime2_from_sources.sh $(QIIME2_SOURCES) $(Q2_VENV)

# The whole suite on QIIME 2 2024.10, then the demo on both platforms and
# the comparison of their answers (.ci/test_platforms.py).
INSTALL_INTO_Q2 := PATH="$(CURDIR)/$(Q2_VENV)/bin:$$PATH" PIP_QUIET=1 bash scripts/install_into_qiime2.sh
test-qiime2-2024.10: $(Q2_VENV)/.installed $(PUBLISHED_WHEEL)
	$(INSTALL_INTO_Q2)
	Q2_MGM_PUBLISHED_WHEEL=$(PUBLISHED_WHEEL) $(Q2_PY) -m pytest -q -p no:cacheprovider q2_mgm
	bash scripts/demo.sh $(Q2_VENV)/bin/qiime $(DATA) $(Q2_DEMO)
	$(MAKE) demo
	Q2_MGM_PLATFORM_DEMOS="$(DEMO) $(Q2_DEMO)" $(Q2_PY) -m pytest -q -p no:cacheprovider -rA .ci/test_platforms.py

$(LIB_VENV)/.installed: requirements-library.txt setup.py
	rm -rf $(LIB_VENV)
	$(PYTHON312) -m venv $(LIB_VENV)
	$(LIB_VENV)/bin/python -m pip install -q -r requirements-library.txt
	$(LIB_VENV)/bin/python -m pip install -q --no-deps -e .
	touch $@

# The library layer's tests (no QIIME 2) under Python 3.12 and numpy 2;
# skipped, saying so, where no Python 3.12 is found (set PYTHON312).
ifeq ($(PYTHON312),)
test-library:
	@echo "SKIPPED test-library: no Python 3.12 interpreter (set PYTHON312)"
else
test-library: $(LIB_VENV)/.installed $(PUBLISHED_WHEEL)
	Q2_MGM_PUBLISHED_WHEEL=$(PUBLISHED_WHEEL) $(LIB_VENV)/bin/python -m pytest -q -p no:cacheprovider $(LIB_TESTS) \
	  --deselect q2_mgm/tests/test_forward.py::test_embed_action_takes_a_precision
endif

bench: $(STAMP)
	for script in bench/*.py; do $(PY) $$script || exit 1; done

# Galaxy. The tool suite an administrator gets: q2galaxy 2024.10 templates
# q2-mgm (installed into the 2024.10 environment) into $(GALAXY_TOOLS), with
# a README for administrators; $(GALAXY_TOOLS).tar.gz packs it.
GALAXY_VERSION := 26.1.2
GALAXY_VENV := .venv-galaxy
GALAXY_TOOLS := build/galaxy-tools
GALAXY_JOBS ?= 2
# test-galaxy GALAXY_ONLY="embed generate" tests those actions' tools alone;
# GALAXY_BREAK=ACTION renames an output of that tool (the target must fail).
GALAXY_ONLY ?=
GALAXY_BREAK ?=
GALAXY_SERVER_DIR ?= build/galaxy-server

galaxy-tools: $(Q2_VENV)/.installed
	$(INSTALL_INTO_Q2)
	bash scripts/galaxy_tools.sh $(Q2_VENV) $(GALAXY_TOOLS) $(GALAXY_VERSION)

# planemo lint on those tools.
galaxy: galaxy-tools
	/usr/bin/python3 scripts/galaxy_check.py $(GALAXY_TOOLS)/suite_qiime2__mgm .galaxy

$(GALAXY_VENV)/.installed: scripts/galaxy_install.sh
	bash scripts/galaxy_install.sh $(GALAXY_VERSION) $(GALAXY_VENV)

# Every tool's test through a real Galaxy server on 127.0.0.1.
test-galaxy: galaxy-tools $(GALAXY_VENV)/.installed
	/usr/bin/python3 scripts/galaxy_server_test.py $(GALAXY_VENV) $(Q2_VENV) \
	  $(GALAXY_TOOLS)/suite_qiime2__mgm $(GALAXY_SERVER_DIR) --jobs $(GALAXY_JOBS) \
	  $(if $(GALAXY_ONLY),--only $(GALAXY_ONLY)) $(if $(GALAXY_BREAK),--break $(GALAXY_BREAK))

clean:
	rm -rf $(VENV) $(DEMO) .cache .galaxy $(Q2_VENV) $(Q2_DEMO) $(LIB_VENV) \
	  $(GALAXY_VENV) build/galaxy-tools build/galaxy-tools.tar.gz build/galaxy-server

# Used by the conda recipe: install the package into the active environment.
install-package:
	$(PYTHON) -m pip install --no-deps --no-build-isolation .
