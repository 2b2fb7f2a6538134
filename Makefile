# q2-mgm: `make demo` and `make test` install what is missing first.
VENV := .venv
PY := $(VENV)/bin/python
QIIME := $(VENV)/bin/qiime
STAMP := $(VENV)/.installed
DEMO := demo-output
DATA := q2_mgm/example_data
WHEEL_DIR := .cache/wheels
PUBLISHED_WHEEL := $(WHEEL_DIR)/microformer_mgm-0.5.8-py3-none-any.whl

.PHONY: install install-package demo test test-fast bench galaxy clean
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

bench: $(STAMP)
	for script in bench/*.py; do $(PY) $$script || exit 1; done

# Galaxy tools from q2galaxy, linted and each test run (a developer check:
# make galaxy Q2GALAXY=/path/to/q2galaxy-2022.11.1-source).
galaxy: $(STAMP)
	@test -n "$(Q2GALAXY)" || { echo "Set Q2GALAXY to a q2galaxy 2022.11.1 source checkout"; exit 2; }
	$(PY) scripts/galaxy_check.py $(Q2GALAXY) .galaxy

clean:
	rm -rf $(VENV) $(DEMO) .cache .galaxy

# Used by the conda recipe: install the package into the active environment.
install-package:
	$(PYTHON) -m pip install --no-deps --no-build-isolation .
