# One entry point for people and CI. `make help` lists the targets.
# The virtual environment is created once and reinstalled only when a
# requirements/packaging file changes (stamp file venv/.installed).

PYTHON  ?= python3
VENV    := venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
VERSION ?= auto
CONTEXT ?= full
# the experiment of the profile (/{team}/{project}/{model_name} of configs/environment.yaml) unless named
EXPERIMENT ?=
UI_PORT ?= 5000
SERVER_PORT ?= 5000
# make server BACKEND_STORE_URI=postgresql://postgres@127.0.0.1:5432/mlflow for a PostgreSQL-backed server
BACKEND_STORE_URI ?= sqlite:///mlflow.db
# make server AUTH=1: MLflow's basic-auth app; admin password from MLFLOW_AUTH_ADMIN_PASSWORD(_FILE)
AUTH ?=
AUTH_DATABASE_URI ?= sqlite:///basic_auth.db
DRY_RUN ?=
PASSWORDS ?=
EVERY ?=
APPROVER ?= release-manager@example.com
ALIAS ?= production
SERVE_PORT ?= 8001
WORKERS ?= 1
SMOKE_PORT ?= 8099
IMAGE_TAG ?= dev
# Kubernetes version the manifests are validated against (make lint)
K8S_VERSION ?= 1.30.0
# make serve FEATURE_LOOKUP=1 also answers requests that carry only the entity key (online feature store)
FEATURE_LOOKUP ?=
BATCH_INPUT ?= data/sample.parquet
BATCH_OUTPUT ?= predictions.parquet
SUDO ?=
REASON ?= make lifecycle: local end-to-end promotion

.DEFAULT_GOAL := help
.PHONY: help venv venv-spark services docs features train new-model validate lifecycle batch serve monitor retrain governance-plan image tools test test-unit test-integration test-fuzz lint format ui server apply-permissions guard uc-grants model-card cd-staging cd-production bench-train bench-serve bench-batch bench-features bench-monitor bench-outage lock clean distclean

help: ## [set-up] list the targets
	@$(PYTHON) scripts/make_help.py $(MAKEFILE_LIST)

# uv installs the pinned set (requirements*.txt under constraints.txt, the project editable) in ~20 s where pip took
# ~65 s here, the same 178 packages; it compiles their bytecode as pip does (some machines set
# PYTHONDONTWRITEBYTECODE=1, and every process would compile MLflow and scikit-learn again). By hand, pip works too.
UV_VERSION ?= 0.13.8
UV_INSTALL = $(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml setup.py
	@echo "installing the pinned dependencies into $(VENV)/ (about 30 s the first time, seconds after) ..."
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(UV_INSTALL) -r requirements-dev.txt -e .
	touch $@

venv: $(STAMP) ## [set-up] create/update the virtual environment (only when requirements change)

$(VENV)/.spark-installed: $(STAMP) requirements-spark.txt
	$(UV_INSTALL) -r requirements-spark.txt
	touch $@

venv-spark: $(VENV)/.spark-installed ## [set-up] add the optional Spark extra (batch --engine spark, Java 17)

services: ## [set-up] start PostgreSQL and Redis for the integration tests if they are down (SUDO=sudo if not root)
	SUDO="$(SUDO)" .ci/services

train: $(STAMP) ## [lifecycle] train, track and register the model on the embedded store (alias @dev)
	$(BIN)/mlops-train \
		--config configs/model_config.yaml \
		$(if $(EXPERIMENT),--experiment $(EXPERIMENT)) \
		--context $(CONTEXT) \
		--version $(VERSION)

new-model: $(STAMP) ## [lifecycle] a new model project from this template: DEST=dir ANSWERS=answers.yml (no ANSWERS: questions)
	$(if $(DEST),,$(error DEST is needed: make new-model DEST=../my-model ANSWERS=my-answers.yml (examples/answers/ has one)))
	$(BIN)/mlops-new-model --dest "$(DEST)" $(if $(ANSWERS),--answers "$(ANSWERS)")

validate: $(STAMP) ## [lifecycle] validate the version at @dev (exit 1 if it fails the gate)
	$(BIN)/mlops-validate --alias dev

lifecycle: $(STAMP) ## [lifecycle] train -> validate -> staging -> production (approved by APPROVER=...), then the alias history
	$(BIN)/mlops-train --version $(VERSION) --context $(CONTEXT)
	$(BIN)/mlops-validate --alias dev
	$(BIN)/mlops-promote --to staging
	$(BIN)/mlops-promote --to production --approved-by "$(APPROVER)" --reason "$(REASON)"
	$(BIN)/mlops-promote history
	$(MAKE) --no-print-directory batch ALIAS=production
	$(BIN)/mlops-serve --alias production --port $(SMOKE_PORT) --poll-seconds 60 & \
		pid=$$!; trap 'kill $$pid 2>/dev/null' EXIT; \
		for i in $$(seq 1 60); do curl -sf http://127.0.0.1:$(SMOKE_PORT)/ping >/dev/null && break; sleep 0.5; done; \
		$(BIN)/mlops-serve smoke --alias production --url http://127.0.0.1:$(SMOKE_PORT)

monitor: $(STAMP) ## [serve] judge the inference log of ALIAS: drift, quality, latency, accuracy (LAST=N requests); exit 1 on alert
	$(BIN)/mlops-monitor --alias $(ALIAS) $(if $(LAST),--last $(LAST)) \
		$(foreach log,$(LOGS),--log "$(log)") $(if $(MONITOR_OUTPUT),--output-dir $(MONITOR_OUTPUT))

retrain: ## [lifecycle] start the training workflow on GitHub (cd-staging.yml; needs gh and GH_TOKEN): monitoring.yml on drift
	gh workflow run cd-staging.yml --ref main

governance-plan: $(STAMP) ## [govern] print the GitHub REST calls that apply the branch ruleset kept as code (REPO=owner/name)
	$(BIN)/python scripts/governance_plan.py $(if $(REPO),--repo $(REPO))

image: ## [serve] build the endpoint's image (needs a Docker engine: CI's runners have one, this repository's machines do not)
	docker build -t model-endpoint:$(IMAGE_TAG) .

tools: ## [set-up] install the Debian tools the tests use: promtool (prometheus), chromium; SUDO=sudo if not root
	SUDO="$(SUDO)" .ci/tools

serve: $(STAMP) ## [serve] REST endpoint for ALIAS (production) on SERVE_PORT (8001); WORKERS=N; FEATURE_LOOKUP=1; CHALLENGER=alias CANARY=P|SHADOW=P
	$(BIN)/mlops-serve --alias $(ALIAS) --port $(SERVE_PORT) --workers $(WORKERS) \
		$(if $(FEATURE_LOOKUP),--feature-lookup) $(if $(CHALLENGER),--challenger $(CHALLENGER)) \
		$(if $(CANARY),--canary $(CANARY)) $(if $(SHADOW),--shadow $(SHADOW))

# Tests run in random order (pytest-randomly prints the seed; --randomly-seed=N replays an order) on one worker
# more than the cores (the integration tests wait on their servers and processes: on 2 cores, 3 workers took
# 5 min 23 s where 2 took 6 min 15 s), a test file per worker (--dist loadfile), so a module's fixtures are built
# once, integration files first (tests/conftest.py; --no-loadscope-reorder keeps that order).
PYTEST_WORKERS ?= $(shell $(PYTHON) -c 'import os; print((os.cpu_count() or 1) + 1)')
PYTEST_PARALLEL ?= -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder

# Coverage of src/ (failing under 85%) in CI (CI=true) or with COVERAGE=1: coverage's tracer on Python 3.11 costs
# about a minute of make test here.
COVERAGE ?= $(filter true,$(CI))
COVERAGE_ARGS = $(if $(COVERAGE),--cov=src --cov-report=term:skip-covered --cov-fail-under=85)

test: $(STAMP) ## [check] unit and integration tests (random order, in parallel); COVERAGE=1: coverage of src/ >= 85%
	$(BIN)/pytest tests/ -v -m "not system" $(PYTEST_PARALLEL) --durations=15 $(COVERAGE_ARGS)

test-system: $(STAMP) ## [check] the stories across real servers: CD, outages, basic-auth, workers, Spark, the UI, a made project
	$(BIN)/pytest tests/ -v -m system $(PYTEST_PARALLEL) --durations=10

ui-check: $(STAMP) ## [check] the MLflow UI's pages in headless Chromium (make tools), screenshots in reports/ui/
	UI_SCREENSHOTS=reports/ui $(BIN)/pytest tests/integration/test_mlflow_ui.py -v -m system -p no:randomly

test-unit: $(STAMP) ## [check] run unit tests only
	$(BIN)/pytest tests/unit/ -v

test-fuzz: $(STAMP) ## [check] 10,000 generated requests against the endpoint's OpenAPI schema (make test sends 500)
	ENDPOINT_FUZZ_REQUESTS=10000 $(BIN)/pytest tests/integration/test_endpoint_schema.py -v

test-integration: $(STAMP) ## [check] run integration tests only (not the system stories)
	$(BIN)/pytest tests/integration/ -v -m "not system" $(PYTEST_PARALLEL)

lint: $(STAMP) features ## [check] ruff (flake8 + black rules), workflow schemas and zizmor, feature lifecycle; catalog, grants and model card up to date
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(BIN)/check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml
	$(BIN)/pre-commit validate-config .pre-commit-config.yaml
	$(BIN)/zizmor --offline --quiet .github/workflows
	$(BIN)/hadolint Dockerfile
	$(BIN)/kubernetes-validate --quiet --strict -k $(K8S_VERSION) deploy/k8s/*.yaml
	$(BIN)/python -m src.features.lifecycle check
	$(BIN)/python -m src.features.catalog --check
	$(BIN)/python scripts/uc_grants.py --check
	$(BIN)/python scripts/model_card.py --check

features: $(STAMP) ## [docs] build the feature store from the definitions: write the source, apply, materialise
	$(BIN)/python -m src.features.feature_store apply

docs: $(STAMP) features ## [docs] regenerate docs/FEATURE_CATALOG.md and docs/MODEL_CARD.md (of the version at @dev)
	$(BIN)/python -m src.features.catalog
	$(BIN)/python scripts/model_card.py --alias dev

model-card: $(STAMP) ## [docs] write docs/MODEL_CARD.md for the version at ALIAS (production) from the registry (FORCE=1: even if it describes the same training)
	$(BIN)/python scripts/model_card.py --alias $(ALIAS) $(if $(FORCE),--force)

format: $(STAMP) ## [check] fix what ruff can fix
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

ui: $(STAMP) ## [serve] MLflow UI on the embedded store (port UI_PORT, default 5000)
	$(BIN)/python -m src.utils.processes --port $(UI_PORT) -- \
		$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port $(UI_PORT)

server: $(STAMP) ## [serve] MLflow tracking server on BACKEND_STORE_URI, artifacts served; AUTH=1: basic-auth (users in AUTH_DATABASE_URI); Ctrl-C stops it whole
	$(BIN)/python scripts/tracking_server.py --backend-store-uri "$(BACKEND_STORE_URI)" --port $(SERVER_PORT) \
		$(if $(AUTH),--auth --auth-database-uri "$(AUTH_DATABASE_URI)")

apply-permissions: $(STAMP) ## [govern] apply configs/governance.yaml to the server at MLFLOW_TRACKING_URI (DRY_RUN=1 prints only; PASSWORDS=file)
	$(BIN)/python scripts/apply_permissions.py $(if $(DRY_RUN),--dry-run) $(if $(PASSWORDS),--passwords "$(PASSWORDS)")

cd-staging: $(STAMP) ## [release] rehearse cd-staging.yml here: auth mlflow server on PostgreSQL, endpoints, scripts/release.py staging
	$(BIN)/python scripts/cd_rehearsal.py staging

cd-production: $(STAMP) ## [release] rehearse cd-staging.yml then cd-production.yml here (promotion by the release manager, rollout, rollback)
	$(BIN)/python scripts/cd_rehearsal.py production

guard: $(STAMP) ## [govern] keep @staging/@production where the alias history says (EVERY=S: a pass every S seconds; else one pass)
	$(BIN)/python scripts/guard_aliases.py $(if $(EVERY),--every $(EVERY))

uc-grants: $(STAMP) ## [govern] write the Unity Catalog GRANTs configs/governance.yaml implies (deploy/unity_catalog/grants.sql)
	$(BIN)/python scripts/uc_grants.py

# make bench-serve PACK=name: the same benchmark in a project make new-model makes from examples/answers/name.yml
PACK ?=
IN_PACK = $(if $(PACK),$(BIN)/python benchmarks/in_pack.py $(PACK) --)

bench-train: $(STAMP) ## [bench] benchmark the training pipeline against MLflow's naive quickstart (PACK=name)
	$(IN_PACK) $(BIN)/python benchmarks/bench_train.py

bench-serve: $(STAMP) ## [bench] benchmark the endpoint against mlflow models serve and a constant-response app (PACK=name)
	LOG_LEVEL=WARNING $(IN_PACK) $(BIN)/python benchmarks/bench_serve.py

bench-batch: $(STAMP) ## [bench] benchmark batch scoring of 1M rows against the model's raw predict (PACK=name)
	LOG_LEVEL=WARNING $(IN_PACK) $(BIN)/python benchmarks/bench_batch.py

bench-features: $(STAMP) ## [bench] benchmark the feature store (embedded and PostgreSQL + Redis) and the endpoint's online lookup
	LOG_LEVEL=WARNING $(BIN)/python benchmarks/bench_features.py

bench-monitor: $(STAMP) ## [bench] benchmark one monitoring pass over 1,000,000 logged requests (target <= 5 s)
	LOG_LEVEL=WARNING $(BIN)/python benchmarks/bench_monitor.py

bench-outage: $(STAMP) ## [bench] time from a tracking server's death to the command's error: MLflow's defaults vs the profile's
	$(BIN)/python benchmarks/bench_outage.py

batch: $(STAMP) ## [lifecycle] score BATCH_INPUT (data/sample.parquet: the bundled data's inputs) with ALIAS -> BATCH_OUTPUT
	test -f $(BATCH_INPUT) || test "$(BATCH_INPUT)" != data/sample.parquet || $(BIN)/python -m src.data.load_data sample data/sample.parquet
	$(BIN)/mlops-batch --alias $(ALIAS) --input $(BATCH_INPUT) --output $(BATCH_OUTPUT)

lock: $(STAMP) ## [set-up] regenerate constraints.txt from the installed environment
	( echo "# Every package of the project's environment, locked. Generated by 'make lock'; do not edit."; \
	  $(BIN)/pip freeze --exclude-editable --exclude uv | sort -f ) > constraints.txt

clean: ## [set-up] remove the embedded store, caches and reports (keeps the venv)
	rm -rf mlflow.db mlflow.db.alias-lock mlartifacts mlruns logs reports feature_store data/sample.parquet predictions.parquet .pytest_cache .ruff_cache .coverage htmlcov .hypothesis benchmarks/results
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean ## [set-up] also remove the virtual environment
	rm -rf $(VENV) *.egg-info
