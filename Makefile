# Two commands on a fresh machine: `make demo` and `make test`. Everything lives in .venv/.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
READY  := $(VENV)/.ready

.PHONY: demo test test-fast lab build check bench lock system-deps clean hub hub-clean hub-deps

$(READY): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	@touch $@

# bubblewrap sandboxes learner code; chromium drives the browser tests. Installed when we are
# root on Debian/Ubuntu; otherwise say what is missing (grading then warns, browser tests skip).
system-deps:
	@missing=""; command -v bwrap >/dev/null || missing="$$missing bubblewrap"; \
	 command -v chromium >/dev/null || missing="$$missing chromium"; \
	 if [ -n "$$missing" ]; then \
	   if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	     echo "installing$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	   else echo "please install:$$missing (e.g. sudo apt-get install$$missing)"; fi; \
	 fi

# The course hub (deploy/hub/, docs/hub.md) on this machine with a demo class; needs root.
HUB_ROOT ?= /srv/activation-functions-hub
HUB_PORT ?= 8000
HUB_ARGS ?=

hub-deps:
	@command -v configurable-http-proxy >/dev/null || { \
	   command -v npm >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; }; \
	   npm install -g --silent configurable-http-proxy; }

hub: $(READY) system-deps hub-deps
	$(BIN)/python deploy/hub/launch.py --root $(HUB_ROOT) --port $(HUB_PORT) $(HUB_ARGS)

hub-clean: $(READY)
	$(BIN)/python deploy/hub/launch.py --remove --root $(HUB_ROOT) $(HUB_ARGS)

demo: $(READY) system-deps
	$(BIN)/autograder demo

test: $(READY) system-deps
	$(BIN)/python -m pytest

test-fast: $(READY)
	$(BIN)/python -m pytest -m "not slow"

# Learners' work goes into lab/ (a copy of the release, never overwritten), not into notebooks/.
# JupyterLab starts here so nbgrader's Validate button reads this course's nbgrader_config.py.
lab: $(READY)
	@mkdir -p lab && cp -rn notebooks/. lab/
	$(BIN)/jupyter lab --notebook-dir=lab $$([ "$$(id -u)" = 0 ] && echo --allow-root)

build: $(READY)
	$(BIN)/autograder build

check: $(READY)
	$(BIN)/autograder build --check

bench: $(READY) system-deps
	$(BIN)/python benchmarks/grading.py

# Re-pin every dependency after changing pyproject.toml.
lock: $(READY)
	@{ echo "# Exact versions every learner and instructor installs (pip install -c constraints.txt -e .)."; \
	   echo "# Regenerate with \`make lock\` after changing dependencies in pyproject.toml."; \
	   $(BIN)/pip freeze --exclude-editable --disable-pip-version-check | sed 's/^torch==\(.*\)+cpu$$/torch==\1/'; } > constraints.txt

clean:
	rm -rf $(VENV) gradebook.db submitted autograded feedback grades.json grades.csv report .demo
