# Two commands do all the setup: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Editable installs must use compat mode, or Thonny's plugin scan cannot see thonnycontrib.iotkit.
PIP_INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: run test test-windows-like clean

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

# GUI tests need an X server; CI has none, so run them under Xvfb. The web dashboard test
# needs Debian's chromium. Both are installed with apt-get when missing and we are root.
test: $(VENV)/.installed-test
	@missing=""; \
	command -v xvfb-run >/dev/null 2>&1 || missing="$$missing xvfb xauth"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null); \
	  else \
	    echo "warning: missing$$missing and we are not root: GUI and browser tests need them" >&2; \
	  fi; \
	fi
	@if command -v xvfb-run >/dev/null 2>&1; then \
	  xvfb-run -a -s "-screen 0 1280x1024x24" $(BIN)/python -m pytest $(PYTEST_ARGS); \
	else \
	  $(BIN)/python -m pytest $(PYTEST_ARGS); \
	fi

# A second pass that makes Linux look like Windows: termios, tty, pty and fcntl cannot be
# imported by the project's own files and os.openpty fails (tests/windows_like/sitecustomize.py).
# Tests marked `pty` are skipped there. Not part of `make test` until the pipe engine serves
# the virtual board without a pty everywhere.
test-windows-like: $(VENV)/.installed-test
	@if command -v xvfb-run >/dev/null 2>&1; then \
	  PYTHONPATH=$(CURDIR)/tests/windows_like xvfb-run -a -s "-screen 0 1280x1024x24" \
	    $(BIN)/python -m pytest $(PYTEST_ARGS); \
	else \
	  PYTHONPATH=$(CURDIR)/tests/windows_like $(BIN)/python -m pytest $(PYTEST_ARGS); \
	fi

clean:
	rm -rf $(VENV) build *.egg-info
