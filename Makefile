# BinaryNet / BinaryConnect reproduction. `make help` lists every target; README.md explains them.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c

VENV ?= .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.setup-done
INSTALL_FLAGS ?=
export PYLEARN2_DATA_PATH ?= $(CURDIR)/data
export SVHN_LOCAL_PATH ?= $(PYLEARN2_DATA_PATH)/local
RUNS ?= runs
DOWNLOADS := download-mnist download-cifar10 download-svhn
ARGS ?=
RUN ?=
EXPERIMENT ?=
SEEDS ?= 1 2 3 4 5
BACKEND ?= local
SWEEP_ARGS ?=

IMAGE ?= binarized-nets:latest
DOCKER_BUILD_ARGS ?=
DOCKER_OPTS := --rm --gpus all --user $$(id -u):$$(id -g) -e HOME=/runs \
	-v $(abspath $(PYLEARN2_DATA_PATH)):/data -v $(abspath $(RUNS)):/runs

.PHONY: help setup test test-fast lint selfcheck selfcheck-gpu compare sweep sweep-status evaluate summary export export-onnx \
	predict benchmark-mnist benchmark-convnet benchmark-packed benchmark-integer-layer benchmark-onnx benchmark-svhn-h5 download \
	$(DOWNLOADS) cifar10-whitened svhn-h5 svhn-preprocess \
	docker-build docker-shell docker-selfcheck-gpu docker-test

# The six experiments' targets (make mnist, make mnist-smoke, ... make bc-svhn-smoke) come from experiments.py.
EXPERIMENT_RULES := .make/experiments.mk
include $(EXPERIMENT_RULES)
$(EXPERIMENT_RULES): experiments.py
	@command -v python3 >/dev/null || { echo "error: python3 is missing: install it (apt-get install python3)" >&2; exit 1; }
	@mkdir -p $(@D) && python3 experiments.py make > $@.tmp && mv $@.tmp $@

# Variables the help texts name, shown with their values.
HELP_VARIABLES := VENV RUNS PYLEARN2_DATA_PATH SVHN_LOCAL_PATH IMAGE DOWNLOADS SEEDS BACKEND
help: ## this list
	@grep -hE '^[a-zA-Z0-9_%$$() -]+:.*## ' $(EXPERIMENT_RULES) $(filter-out $(EXPERIMENT_RULES),$(MAKEFILE_LIST)) | \
		sed $(foreach v,$(HELP_VARIABLES),-e 's|$$($(v))|$($(v))|g') -e 's/:.*## /\t/' | \
		awk -F'\t' '{ printf "make %-30s %s\n", $$1, $$2 }'

# The one install recipe: docker/install.sh (the Dockerfile runs it too).
setup: ## install the stack into $(VENV) (root or sudo for apt; INSTALL_FLAGS=--gpu adds CUDA, --lint the linters, --onnx the ONNX export, --slurm Slurm)
	bash docker/install.sh --venv $(VENV) $(INSTALL_FLAGS)

$(STAMP):
	$(MAKE) --no-print-directory setup

test: $(STAMP) ## the whole test suite (the real-data tests read the MNIST of $(PYLEARN2_DATA_PATH)/mnist)
	$(PYTHON) -m pytest

test-fast: $(STAMP) ## the test suite without the tests that train (marked slow): about 3 minutes on 2 CPU cores
	$(PYTHON) -m pytest -m "not slow"

LINTERS := $(VENV)/bin/ruff $(VENV)/bin/hadolint
lint: $(STAMP) ## ruff (Python: lint, import order, format check) and hadolint (Dockerfile); their tools come with `make setup INSTALL_FLAGS=--lint`
	@for tool in $(LINTERS); do [ -x $$tool ] || { echo "error: $$tool is missing: run \`make setup INSTALL_FLAGS=--lint\`" >&2; exit 1; }; done
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/hadolint docker/Dockerfile

selfcheck: $(STAMP) ## versions of the stack, and the GPU Theano sees
	$(PYTHON) -m compat.selfcheck

selfcheck-gpu: $(STAMP) ## the same, failing with a clear message unless Theano computes on a GPU
	$(PYTHON) -m compat.selfcheck --require-gpu

download: $(STAMP) ## fetch every dataset into $(PYLEARN2_DATA_PATH)
	$(PYTHON) -m datasets.download all

# A static pattern rule (make skips plain pattern rules for .PHONY targets).
$(DOWNLOADS): download-%: $(STAMP) ## fetch one dataset (checksums verified; offline: see README, Data)
	$(PYTHON) -m datasets.download $*

# $(call train,MODULE,RUN,FLAGS): python -m MODULE writing into $(RUNS)/RUN (ARGS may name another
# --output-dir); the script itself appends its console to console.log in its run folder.
define train
$(PYTHON) -u -m $(1) --output-dir $(RUNS)/$(2) $(3)
endef

compare: $(STAMP) ## every run beside the paper: a table, $(RUNS)/comparison.png and .svg (ARGS="--csv FILE")
	$(PYTHON) -m results.compare --runs $(RUNS) $(ARGS)

# A seed sweep: EXPERIMENT=mnist (a target name; mnist-smoke for the small run), SEEDS, BACKEND=slurm|local,
# SWEEP_ARGS for the sweep's options (--time, --gpus, --sbatch ...), ARGS for the script's flags.
sweep: $(STAMP) ## EXPERIMENT=... with each of SEEDS="$(SEEDS)", one run folder each, BACKEND=$(BACKEND) (or slurm: a job array)
	@[ -n "$(EXPERIMENT)" ] || { echo "error: name the experiment: make sweep EXPERIMENT=mnist (or mnist-smoke, bc-cifar10, ...)" >&2; exit 2; }
	$(PYTHON) -m sweep.run $(EXPERIMENT) --seeds $(SEEDS) --backend $(BACKEND) --runs $(RUNS) $(SWEEP_ARGS) -- $(ARGS)

sweep-status: $(STAMP) ## each seed of the sweeps in $(RUNS) (or EXPERIMENT=...): epoch, state, Slurm task
	$(PYTHON) -m sweep.status $(EXPERIMENT) --runs $(RUNS)

# The deploy commands work on RUN=folder, or else on the newest finished run under $(RUNS) (they say which).
evaluate: $(STAMP) ## test error of a finished run's best epoch (RUN=folder; ARGS="--engine packed" for XNOR)
	$(PYTHON) -m deploy.evaluate $(RUN) --runs $(RUNS) $(ARGS)

summary: $(STAMP) ## a run's network per layer: 1-bit and 32-bit parameters, memory, binary and float MACs (RUN=folder)
	$(PYTHON) -m deploy.summary $(RUN) --runs $(RUNS) $(ARGS)

export: $(STAMP) ## a finished run's best network as packed bits, RUN/packed.npz (docs/EXPORT.md)
	$(PYTHON) -m deploy.export $(RUN) --runs $(RUNS) $(ARGS)

export-onnx: $(STAMP) ## a finished run's best network as ONNX (+ QONNX for FINN) in RUN/ (INSTALL_FLAGS=--onnx; docs/EXPORT.md)
	$(PYTHON) -m deploy.onnx_export $(RUN) --runs $(RUNS) $(ARGS)

predict: $(STAMP) ## classify PNG or IDX images with a run's packed network (RUN=folder IMAGES="a.png b-idx3-ubyte")
	$(PYTHON) -m deploy.predict $(RUN) --runs $(RUNS) --images $(IMAGES) $(ARGS)

benchmark-packed: $(STAMP) ## ms per image, packed XNOR-popcount vs float32 (weights binarized once) vs Theano, 3 nets
	$(PYTHON) -m benchmarks.packed $(ARGS)

benchmark-integer-layer: $(STAMP) ## the exact integer first layer vs the float one on the 10,000 MNIST test images
	$(PYTHON) -m benchmarks.integer_first_layer $(ARGS)

benchmark-onnx: $(STAMP) ## the paper-size MLP as ONNX: its nodes, onnxruntime's time per image beside the packed engine's
	$(PYTHON) -m benchmarks.onnx_mnist $(ARGS)

benchmark-mnist: $(STAMP) ## seconds per iteration and per epoch of the paper-size MLP on this device
	$(PYTHON) -m benchmarks.mnist_mlp $(ARGS)

benchmark-convnet: $(STAMP) ## the same for a ConvNet (ARGS="--dataset cifar10|svhn --iterations N")
	$(PYTHON) -m benchmarks.convnet $(ARGS)

benchmark-svhn-h5: $(STAMP) ## peak memory and speed of building the SVHN h5 files (synthetic inputs)
	$(PYTHON) -m benchmarks.svhn_h5 $(ARGS)

cifar10-whitened: download-cifar10 ## BinaryConnect's GCN + ZCA-whitened CIFAR-10 (about 35 s, 2.3 GB of memory)
	$(PYTHON) -m datasets.cifar10_whitened $(ARGS)

svhn-h5: download-svhn ## pylearn2's SVHN h5 files from the .mat files, rows in pylearn2's order
	$(PYTHON) -m datasets.svhn_h5 $(ARGS)

svhn-preprocess: $(STAMP) ## BinaryConnect's GCN + LCN copies of the SVHN h5 files in $(SVHN_LOCAL_PATH)
	$(PYTHON) -m binaryconnect.svhn_preprocessing $(ARGS)

# Each docker target first checks the daemon (and the NVIDIA runtime): docker/check.sh ends with one error line.
docker-build: ## build the CUDA image $(IMAGE) from docker/Dockerfile (DOCKER_BUILD_ARGS: e.g. --build-arg BASE_IMAGE=...)
	@bash docker/check.sh
	@docker build -f docker/Dockerfile -t $(IMAGE) $(DOCKER_BUILD_ARGS) . || { echo "error: the image did not build \
	(above); where Docker Hub or snapshot.debian.org cannot be reached, substitute them (README, Docker): \
	make docker-build DOCKER_BUILD_ARGS=\"--build-arg BASE_IMAGE=... --build-arg DEBIAN_MIRROR=...\"" >&2; exit 1; }

docker-shell: ## a shell in the container (data and runs mounted)
	@bash docker/check.sh --gpu
	mkdir -p $(RUNS) $(PYLEARN2_DATA_PATH)
	docker run -it $(DOCKER_OPTS) $(IMAGE) bash

docker-selfcheck-gpu: ## in the container: versions, and fail unless Theano sees the GPU
	@bash docker/check.sh --gpu
	mkdir -p $(RUNS) $(PYLEARN2_DATA_PATH)
	docker run $(DOCKER_OPTS) $(IMAGE) make selfcheck-gpu

docker-test: ## build the image from this tree on a local Debian base, train in it on the CPU, compare (docker/test.sh)
	bash docker/test.sh

docker-%: ## any target in the container, e.g. `make docker-mnist`
	@bash docker/check.sh --gpu
	mkdir -p $(RUNS) $(PYLEARN2_DATA_PATH)
	docker run $(DOCKER_OPTS) $(IMAGE) make $* ARGS="$(ARGS)"
