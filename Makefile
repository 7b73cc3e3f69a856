# Gridwalk: `make demo` serves the demo county, `make test` runs the whole suite.
# Both install what is missing first (Debian packages, the venv, the vendored assets).

VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test stop deps deps-test venv assets translations clean

demo: deps venv assets translations
	scripts/demo.sh

test: deps-test venv assets translations
	scripts/test.sh $(ARGS)

stop:
	scripts/postgis.sh stop var/pg

deps:
	scripts/deps.sh

deps-test:
	scripts/deps.sh test

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

assets: $(VENV)/.installed
	$(PY) scripts/vendor_assets.py

translations: $(VENV)/.installed
	$(VENV)/bin/pybabel compile -d webmap/translations

clean: stop
	rm -rf var $(VENV) static/vendor
