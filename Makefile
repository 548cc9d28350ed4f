# Two commands: `make run` (whole local stack) and `make test` (every test).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench install smoke package clean

$(STAMP): requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip<26.3"  # chalice 1.34 requires pip<26.3
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

# Browser tests drive Debian's Chromium; install it once if missing (needs root/apt).
BROWSER_STAMP := $(VENV)/.browser
$(BROWSER_STAMP): $(STAMP)
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
	  echo "installing chromium + chromium-driver (browser tests)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi
	touch $(BROWSER_STAMP)

install: $(STAMP)

run: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m devstack.run

test: $(STAMP) $(BROWSER_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m bench.run

# Deployable artifacts in out/: the SAM template with the table, and the Lambda zip without
# boto3/botocore (the Lambda runtime provides them; see infra/slim_package.py).
STAGE ?= dev
package: $(STAMP)
	rm -rf out
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} $(BIN)/chalice package --stage $(STAGE) --merge-template infra/table.json out/
	$(BIN)/python infra/slim_package.py out/deployment.zip

smoke: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash devstack/smoke.sh

clean:
	rm -rf $(VENV) .devstack .pytest_cache
