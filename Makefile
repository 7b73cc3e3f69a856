# Gridwalk: `make demo` serves the demo county, `make test` runs the whole suite.
# Both install what is missing first (Debian packages, the venv, the vendored assets).

VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test stop deps deps-test venv venv-test assets translations wheel messages bench bench-report bench-coverage bench-tiles bench-offline bench-load bench-map bench-import clean

demo: deps venv assets translations
	scripts/demo.sh

test: deps-test venv-test assets translations
	scripts/test.sh $(ARGS)

stop:
	scripts/postgis.sh stop var/pg

deps:
	scripts/deps.sh

deps-test:
	scripts/deps.sh test

venv: $(VENV)/.installed

venv-test: $(VENV)/.installed-test

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[test]'
	touch $@

assets: venv
	$(PY) scripts/vendor_assets.py

translations: venv
	$(VENV)/bin/pybabel compile -d webmap/translations

# A wheel to install anywhere (`pip install dist/gridwalk-*.whl`, then `gridwalk serve`): it
# carries the vendored front-end files and the compiled catalogs, so they are made first.
wheel: venv assets translations
	$(PY) -m pip wheel -q --no-deps -w dist .

clean: stop
	rm -rf var $(VENV) static/vendor dist build

# For developers: collect the messages from the code into the catalog; translate the new
# (empty) entries in webmap/translations/zh/LC_MESSAGES/messages.po.
messages: venv
	$(VENV)/bin/pybabel extract -F babel.cfg -k N_ -k _ -k gettext -k lazy_gettext --no-location \
	  --project Gridwalk --version 0.1 --copyright-holder Gridwalk \
	  --sort-output -o var/messages.pot .
	$(VENV)/bin/pybabel update -i var/messages.pot -d webmap/translations -l zh --no-fuzzy-matching \
	  --ignore-obsolete --omit-header

# Benchmarks (not tests), on demo counties in the local cluster var/pg, kept for reuse.
# Everything beside the peers of $(PEERS) on the scale-50 county in one run (bench/all.py):
# writes docs/bench/RESULTS.md. ARGS=--quick for a smoke run.
PEERS ?= ../shared/peers
bench: deps-test venv-test assets translations
	$(PEERS)/setup_env.sh
	scripts/postgis.sh start var/pg $${PGPORT:-55432} gridwalk_bench50
	DATABASE_URL=postgresql+psycopg2://postgres@127.0.0.1:$${PGPORT:-55432}/gridwalk_bench50 $(VENV)/bin/gridwalk db upgrade
	GRIDWALK_PEERS=$(PEERS) DATABASE_URL=postgresql+psycopg2://postgres@127.0.0.1:$${PGPORT:-55432}/gridwalk_bench50 $(PY) bench/all.py $(ARGS)

# Reporting an issue beside the bare routing SQL, on a scale-10 county.
bench-report: deps venv
	scripts/postgis.sh start var/pg $${PGPORT:-55432} gridwalk_bench
	DATABASE_URL=postgresql+psycopg2://postgres@127.0.0.1:$${PGPORT:-55432}/gridwalk_bench $(VENV)/bin/gridwalk db upgrade
	DATABASE_URL=postgresql+psycopg2://postgres@127.0.0.1:$${PGPORT:-55432}/gridwalk_bench $(PY) bench/issue_create.py

bench-coverage: deps venv
	scripts/postgis.sh start var/pg $${PGPORT:-55432} gridwalk_bench50
	DATABASE_URL=postgresql+psycopg2://postgres@127.0.0.1:$${PGPORT:-55432}/gridwalk_bench50 $(VENV)/bin/gridwalk db upgrade
	DATABASE_URL=postgresql+psycopg2://postgres@127.0.0.1:$${PGPORT:-55432}/gridwalk_bench50 $(PY) bench/coverage.py

bench-tiles: deps venv
	scripts/postgis.sh start var/pg $${PGPORT:-55432} gridwalk_bench50
	DATABASE_URL=postgresql+psycopg2://postgres@127.0.0.1:$${PGPORT:-55432}/gridwalk_bench50 $(VENV)/bin/gridwalk db upgrade
	DATABASE_URL=postgresql+psycopg2://postgres@127.0.0.1:$${PGPORT:-55432}/gridwalk_bench50 $(PY) bench/tiles.py $(ARGS)

# An offline copy of the largest grid and community, beside the bare GeoJSON read of their buildings.
bench-offline: deps venv
	scripts/postgis.sh start var/pg $${PGPORT:-55432} gridwalk_bench50
	DATABASE_URL=postgresql+psycopg2://postgres@127.0.0.1:$${PGPORT:-55432}/gridwalk_bench50 $(VENV)/bin/gridwalk db upgrade
	DATABASE_URL=postgresql+psycopg2://postgres@127.0.0.1:$${PGPORT:-55432}/gridwalk_bench50 $(PY) bench/offline.py $(ARGS)

# 50 officers for 60 s against `gridwalk serve`, then again with PostgreSQL restarted mid-run.
bench-load: deps venv
	scripts/postgis.sh start var/pg $${PGPORT:-55432} gridwalk_bench50
	DATABASE_URL=postgresql+psycopg2://postgres@127.0.0.1:$${PGPORT:-55432}/gridwalk_bench50 $(VENV)/bin/gridwalk db upgrade
	DATABASE_URL=postgresql+psycopg2://postgres@127.0.0.1:$${PGPORT:-55432}/gridwalk_bench50 $(PY) bench/load.py $(ARGS)
	DATABASE_URL=postgresql+psycopg2://postgres@127.0.0.1:$${PGPORT:-55432}/gridwalk_bench50 $(PY) bench/load.py --restart-db var/pg $(ARGS)

# The map page in Chromium on the scale-50 county: HTML size, first buildings painted, JS heap.
bench-map: deps-test venv-test assets translations
	scripts/postgis.sh start var/pg $${PGPORT:-55432} gridwalk_bench50
	DATABASE_URL=postgresql+psycopg2://postgres@127.0.0.1:$${PGPORT:-55432}/gridwalk_bench50 $(VENV)/bin/gridwalk db upgrade
	DATABASE_URL=postgresql+psycopg2://postgres@127.0.0.1:$${PGPORT:-55432}/gridwalk_bench50 $(PY) bench/map_page.py $(ARGS)

# Footprints from a GeoPackage: `gridwalk import buildings` beside ogr2ogr, same file, same server.
bench-import: deps venv
	scripts/deps.sh bench
	scripts/postgis.sh start var/pg $${PGPORT:-55432} gridwalk_bench
	DATABASE_URL=postgresql+psycopg2://postgres@127.0.0.1:$${PGPORT:-55432}/postgres $(PY) bench/import_gis.py $(ARGS)
