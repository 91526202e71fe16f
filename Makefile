# Two commands do all the setup: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Editable installs must use compat mode, or Thonny's plugin scan cannot see thonnycontrib.iotkit.
PIP_INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: run test test-normal test-windows-like lint format clean

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
# needs Debian's chromium, the class dashboard tests Debian's mosquitto (in /usr/sbin, which an
# ordinary user's PATH lacks). They are installed with apt-get when missing and we are root.
# The tests start their own mosquitto on free ports; the service apt's postinst may start on
# port 1883 (where no policy-rc.d stops it) is stopped and disabled again, so installing the
# test tools does not leave a broker running.
#
# Two passes run side by side (the tests mostly wait on boards and windows, so two fit on two
# cores): the normal one, and a Windows-like one (tests/windows_like/sitecustomize.py: termios,
# tty, pty and fcntl cannot be imported by the project's own files and os.openpty fails; tests
# marked `pty` are skipped there). Each has its own X display; the Windows-like pass's output
# is printed after the normal pass's, and either failing fails `make test`.
# The screen is larger than a 1366x768 laptop's, so Thonny's window can be made that size.
SCREEN = 1400x1050x24
# The tests start one Xvfb per worker (tests/conftest.py) of this same size.
export IOTKIT_TEST_SCREEN := $(SCREEN)
XVFB = xvfb-run -a -s "-screen 0 $(SCREEN)"
# Each pass runs its test files on PYTEST_WORKERS processes (pytest-xdist), a whole file per
# process (--dist loadfile), so module fixtures (one Thonny, one template matrix) are made once.
# --tb=short: a failure shows the failing lines and the error, not each test's whole source, so
# the error itself stays in what a CI log keeps of the end of the output.
# The tests mostly wait on boards, windows and Thonny, not on the CPU: on the 2-core CI machine
# two workers per pass took both passes from 18.6 to 10.5 minutes. PYTEST_WORKERS=0 runs in one
# process, for debugging. A worker that crashes ends the pass as a failure at once
# (--max-worker-restart=0): with a restart, xdist's loadfile scheduler was seen to wait forever.
PYTEST_WORKERS ?= 2
PYTEST = $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile --max-worker-restart=0 --tb=short
WINDOWS_LIKE_LOG := tests/artifacts/windows-like.log

# Style as pyproject.toml states it: black, isort, and ruff's small rule set. `make test` runs
# it first; `make format` applies black and isort.
lint: $(VENV)/.installed-test
	$(BIN)/black --check --quiet .
	$(BIN)/isort --check-only --quiet .
	$(BIN)/ruff check --quiet .

format: $(VENV)/.installed-test
	$(BIN)/isort --quiet .
	$(BIN)/black --quiet .

test: $(VENV)/.installed-test lint
	@missing=""; \
	command -v xvfb-run >/dev/null 2>&1 || missing="$$missing xvfb xauth"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing="$$missing mosquitto"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null); \
	    case "$$missing" in *mosquitto*) \
	      (systemctl disable --now mosquitto || invoke-rc.d mosquitto stop) >/dev/null 2>&1 || true;; \
	    esac; \
	  else \
	    echo "warning: missing$$missing and we are not root: GUI, browser and broker tests need them" >&2; \
	  fi; \
	fi
	@mkdir -p tests/artifacts; \
	under_x() { n=$$1; shift; \
	  if command -v xvfb-run >/dev/null 2>&1; then \
	    xvfb-run -a -n $$n -s "-screen 0 $(SCREEN)" "$$@"; else "$$@"; fi; }; \
	echo "The Windows-like pass runs beside this one; its output follows ($(WINDOWS_LIKE_LOG))."; \
	( export PYTHONPATH=$(CURDIR)/tests/windows_like; \
	  under_x 150 $(PYTEST) $(PYTEST_ARGS) > $(WINDOWS_LIKE_LOG) 2>&1 ) & wl=$$!; \
	under_x 99 $(PYTEST) $(PYTEST_ARGS); first=$$?; \
	wait $$wl; second=$$?; \
	echo; echo "==== Windows-like pass (POSIX modules blocked for the project's files) ===="; \
	cat $(WINDOWS_LIKE_LOG); \
	[ $$first = 0 ] && [ $$second = 0 ]

# One pass of each on its own, for working on one side.
test-normal: $(VENV)/.installed-test
	@if command -v xvfb-run >/dev/null 2>&1; then \
	  $(XVFB) $(PYTEST) $(PYTEST_ARGS); \
	else \
	  $(PYTEST) $(PYTEST_ARGS); \
	fi

test-windows-like: $(VENV)/.installed-test
	@if command -v xvfb-run >/dev/null 2>&1; then \
	  PYTHONPATH=$(CURDIR)/tests/windows_like $(XVFB) $(PYTEST) $(PYTEST_ARGS); \
	else \
	  PYTHONPATH=$(CURDIR)/tests/windows_like $(PYTEST) $(PYTEST_ARGS); \
	fi

clean:
	rm -rf $(VENV) build *.egg-info
