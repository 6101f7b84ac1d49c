# The verbs a newcomer needs. `make test` works on a fresh machine: it builds the virtual
# environments it needs, lints the code and the template, and runs the whole suite.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Lambda runs python3.13: prefer it (directly or through pyenv), else any python3 >= 3.11.
PYTHON ?= $(shell for cmd in "python3.13" "env PYENV_VERSION=3.13.0 python3.13" "python3"; do \
	$$cmd -c 'import sys; assert sys.version_info >= (3, 11); print(sys.executable)' 2>/dev/null && break; done)
VENV := .venv
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
PY := $(VENV)/bin/python
export SAM_CLI_TELEMETRY := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help install audit browser run demo token admin bench openapi test pytest lint build clean

help:
	@echo "make run      the whole product and its dashboard on http://127.0.0.1:3000 (state kept in .local-state;"
	@echo "              RUN_ARGS=--reset starts fresh, RUN_ARGS=--in-memory keeps nothing)"
	@echo "make demo     the user journey (connect, channels, send, reply, thread, stats) against make run's stack"
	@echo "make token USER=alice   a dev JWT for any user of the running make run stack"
	@echo "make admin ARGS=\"list\"   the operator command (slack_integration.admin) against the running make run stack"
	@echo "make test     set up .venv and .venv-sam, lint (ruff, mypy, cfn-lint, sam validate --lint), run pytest"
	@echo "make bench    cold start, cost per message, throughput under Slack's limits, overhead -> benchmarks/RESULTS.md"
	@echo "make pytest   only the test suite (after make install; browser tests need make browser)"
	@echo "make browser  Debian's Chromium for the dashboard's browser tests (apt-get; make test runs it)"
	@echo "make lint     only the linters (and checkov on template.yaml)"
	@echo "make audit    known vulnerabilities of the layer's dependencies (pip-audit; needs PyPI's JSON API)"
	@echo "make build    sam build (needs python3.13 on PATH, as the Lambda runtime)"
	@echo "make clean    remove the virtual environments and build output"

$(VENV)/.installed: requirements-dev.txt shared/requirements.txt
	@test -n "$(PYTHON)" || { echo "Need python3.13 (or python3 >= 3.11) on PATH" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

$(SAM_VENV)/.installed: requirements-sam.txt
	@test -n "$(PYTHON)" || { echo "Need python3.13 (or python3 >= 3.11) on PATH" >&2; exit 1; }
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet -r requirements-sam.txt
	@touch $@

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	@test -n "$(PYTHON)" || { echo "Need python3.13 (or python3 >= 3.11) on PATH" >&2; exit 1; }
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	@touch $@

install: $(VENV)/.installed $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed

# The layer is /opt/python on Lambda; here it is shared/ on the path, next to the repository root.
LOCAL_PATH := PYTHONPATH=.:shared

run: $(VENV)/.installed
	$(LOCAL_PATH) $(PY) -m local.stack $(RUN_ARGS)

demo: $(VENV)/.installed
	$(LOCAL_PATH) $(PY) -m local.demo

token: $(VENV)/.installed
	@$(LOCAL_PATH) $(PY) -m local.token "$(USER)"

# e.g. make admin ARGS="stats --user-id user-demo-1"; ARGS="--print-env" for a shell's export lines.
admin: $(VENV)/.installed
	@$(LOCAL_PATH) $(PY) -m local.admin $(ARGS)

openapi: $(VENV)/.installed
	$(LOCAL_PATH) $(PY) -m local.openapi > openapi.json

bench: $(VENV)/.installed
	$(LOCAL_PATH) $(PY) -m benchmarks.run $(BENCH_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy shared/slack_integration
	$(VENV)/bin/cfn-lint template.yaml
	$(SAM_VENV)/bin/sam validate --lint --template template.yaml --region us-east-1
	@# Every failed check is fixed or skipped in template.yaml with its reason; --skip-download: offline.
	$(CHECKOV_VENV)/bin/checkov --file template.yaml --framework cloudformation --compact --quiet --skip-download

# Known vulnerabilities of the layer's pinned dependencies. Needs PyPI's JSON API (or OSV); a
# mirror without it audits nothing, and --strict makes that a failure instead of a silent pass.
audit: $(CHECKOV_VENV)/.installed
	$(CHECKOV_VENV)/bin/pip-audit --strict --progress-spinner off --requirement shared/requirements.txt

# The dashboard's browser tests drive Debian's Chromium through Playwright for Python; Playwright's
# own browser download is never used. Installed here when missing (as root, or with sudo).
CHROMIUM := $(shell command -v chromium || command -v chromium-browser)
browser:
ifeq ($(CHROMIUM),)
	@echo "Installing Debian's chromium for the dashboard's browser tests"
	@SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null \
	  || { echo "Could not install chromium: install it (apt-get install chromium) or set CHROMIUM_PATH" >&2; exit 1; }
endif
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || test -x "$$CHROMIUM_PATH"

pytest: $(VENV)/.installed browser
	$(PY) -m pytest -n auto

test: lint pytest

# sam's python3.13 builder looks for python3.13 on PATH; put the interpreter found above first.
build: $(SAM_VENV)/.installed
	PATH="$(dir $(PYTHON)):$$PATH" $(SAM_VENV)/bin/sam build --region us-east-1

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .aws-sam
