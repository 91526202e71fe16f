# Two commands do all the setup: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Editable installs must use compat mode, or Thonny's plugin scan cannot see thonnycontrib.iotkit.
PIP_INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: run test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-run: setup.py | $(BIN)/python
	$(PIP_INSTALL) -e . --config-settings editable_mode=compat
	touch $@

$(VENV)/.installed-test: setup.py | $(BIN)/python
	$(PIP_INSTALL) -e '.[test]' --config-settings editable_mode=compat
	touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/iotkit

# GUI tests need an X server; CI has none, so run them under Xvfb (installed when root).
test: $(VENV)/.installed-test
	@if ! command -v xvfb-run >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing xvfb"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xvfb xauth >/dev/null); \
	  else \
	    echo "warning: xvfb-run is missing and we are not root: GUI tests need a display" >&2; \
	  fi; \
	fi
	@if command -v xvfb-run >/dev/null 2>&1; then \
	  xvfb-run -a -s "-screen 0 1280x1024x24" $(BIN)/python -m pytest $(PYTEST_ARGS); \
	else \
	  $(BIN)/python -m pytest $(PYTEST_ARGS); \
	fi

clean:
	rm -rf $(VENV) build *.egg-info
