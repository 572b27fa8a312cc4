# sitegate: the two commands of the README's quick start are `make demo` and `make test`.
# Both install what they need: missing Debian packages (apt-get when root, else the exact
# command to run), then a virtual environment with the project and its extras.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# ROLE: "dev" (default: everything, for `make test` and `make demo`), "terminal" (a
# turnstile Pi) or "controller" (the site controller machine).
ROLE ?= dev
STAMP := $(VENV)/.installed-$(ROLE)-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

# What each Debian package is for is in README.md ("System packages").
ifeq ($(ROLE),terminal)
EXTRAS := terminal
SYSTEM_PACKAGES := python3-venv pcscd swig libpcsclite-dev pkg-config libzbar0
else ifeq ($(ROLE),controller)
EXTRAS := controller,provisioning
SYSTEM_PACKAGES := python3-venv mosquitto
else
EXTRAS := terminal,controller,provisioning,dev
SYSTEM_PACKAGES := python3-venv mosquitto mosquitto-clients pcscd vsmartcard-vpcd swig \
	libpcsclite-dev pkg-config libzbar0 postgresql systemd chromium chromium-driver
endif

# On a Raspberry Pi: the pi extra, and the apt-installed picamera2 visible in the venv.
VENV_FLAGS :=
ifneq ($(wildcard /proc/device-tree/model),)
ifneq ($(shell grep -a Raspberry /proc/device-tree/model),)
EXTRAS := $(EXTRAS),pi
VENV_FLAGS := --system-site-packages
endif
endif

.PHONY: help sysdeps venv test lint demo dist chaos clean

help:
	@echo "make demo   run the whole site on this machine (embedded defaults)"
	@echo "make test   run every test (installs what it needs)"
	@echo "make lint   ruff and mypy"
	@echo "make dist   build the wheel and sdist into dist/ (install: pip install 'dist/sitegate-*.whl[controller]')"
	@echo "make chaos  the fault campaign (CHAOS_ARGS=\"--seed N --minutes M ...\")"

sysdeps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "missing system packages; run:  sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

$(STAMP): pyproject.toml
	$(MAKE) sysdeps
	test -x $(PY) || $(PYTHON) -m venv $(VENV_FLAGS) $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

venv: $(STAMP)

test: venv
	$(PY) -m pytest

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

demo: venv
	$(VENV)/bin/sitegate-demo

dist: venv
	rm -rf dist
	$(PY) -m build --outdir dist .

# The fault campaign: the whole site in real processes under seeded combined faults, then
# the checker of the promise (docs/reliability.md). E.g. make chaos CHAOS_ARGS="--seed 7".
CHAOS_ARGS ?=
chaos: venv
	$(VENV)/bin/sitegate-demo chaos $(CHAOS_ARGS)

clean:
	rm -rf dist $(VENV) .pytest_cache .mypy_cache .ruff_cache
