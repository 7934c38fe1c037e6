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
RUN ?= $(RUNS)/binarynet-mnist

# The smoke runs: small versions that learn within about two minutes on 2 CPU cores (README: Quick start).
SMOKE_MNIST := --num-epochs 8 --num-units 512 --n-hidden-layers 2 --train-size 20000 --valid-size 5000 \
	--test-size 10000 --LR-fin 0.00003
SMOKE_CONVNET := --num-epochs 4 --filters 8 8 16 16 32 32 --num-units 128 --train-size 4000 --valid-size 1000 \
	--test-size 2000 --LR-fin 0.0001
SMOKE_SVHN := --num-epochs 4 --filters 8 8 16 16 32 32 --num-units 128 --train-size 20000 --valid-size 2000 \
	--test-size 5000 --LR-fin 0.0001

IMAGE ?= binarized-nets:latest
DOCKER_OPTS := --rm --gpus all --user $$(id -u):$$(id -g) -e HOME=/runs \
	-v $(abspath $(PYLEARN2_DATA_PATH)):/data -v $(abspath $(RUNS)):/runs

.PHONY: help setup test test-fast lint selfcheck selfcheck-gpu \
	mnist mnist-smoke cifar10 cifar10-smoke svhn svhn-smoke \
	bc-mnist bc-mnist-smoke bc-cifar10 bc-cifar10-smoke bc-svhn bc-svhn-smoke compare evaluate summary export \
	benchmark-mnist benchmark-convnet benchmark-packed benchmark-svhn-h5 download $(DOWNLOADS) cifar10-whitened svhn-h5 svhn-preprocess \
	docker-build docker-shell docker-selfcheck-gpu

help: ## this list
	@grep -hE '^[a-zA-Z0-9_%$$() -]+:.*## ' $(MAKEFILE_LIST) | \
		sed -e 's/$$(DOWNLOADS)/download-mnist download-cifar10 download-svhn/' -e 's/:.*## /\t/' | \
		awk -F'\t' '{ printf "make %-30s %s\n", $$1, $$2 }'

# The one install recipe: docker/install.sh (the Dockerfile runs it too).
setup: ## install the stack into $(VENV) (root or sudo for apt; INSTALL_FLAGS=--gpu adds CUDA, --lint the linters)
	bash docker/install.sh --venv $(VENV) $(INSTALL_FLAGS)

$(STAMP):
	$(MAKE) --no-print-directory setup

test: $(STAMP) ## the whole test suite (the real-data tests read the MNIST of $(PYLEARN2_DATA_PATH)/mnist)
	$(PYTHON) -m pytest

test-fast: $(STAMP) ## the test suite without the slow trainings on real data
	$(PYTHON) -m pytest -m "not slow"

LINTERS := $(VENV)/bin/ruff $(VENV)/bin/hadolint
lint: $(STAMP) ## ruff (Python) and hadolint (Dockerfile); their tools come with `make setup INSTALL_FLAGS=--lint`
	@for tool in $(LINTERS); do [ -x $$tool ] || { echo "error: $$tool is missing: run \`make setup INSTALL_FLAGS=--lint\`" >&2; exit 1; }; done
	$(VENV)/bin/ruff check .
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
$(PYTHON) -u -m $(1) --output-dir $(RUNS)/$(2) $(3) $(ARGS)
endef

mnist: download-mnist ## set up, fetch MNIST, train BinaryNet MNIST with the paper's settings (ARGS=... adds flags)
	$(call train,binarynet.mnist,binarynet-mnist)

mnist-smoke: download-mnist ## a small BinaryNet MNIST run that learns in about two minutes on a CPU
	$(call train,binarynet.mnist,binarynet-mnist-smoke,$(SMOKE_MNIST))

cifar10: download-cifar10 ## fetch CIFAR-10, train the BinaryNet CIFAR-10 ConvNet with the paper's settings
	$(call train,binarynet.cifar10,binarynet-cifar10)

cifar10-smoke: download-cifar10 ## a small BinaryNet CIFAR-10 run for a CPU (a few minutes)
	$(call train,binarynet.cifar10,binarynet-cifar10-smoke,$(SMOKE_CONVNET))

# ARGS are the training script's: the prerequisites that build datasets run without them.
svhn svhn-smoke bc-cifar10 bc-cifar10-smoke bc-svhn bc-svhn-smoke: override TRAIN_ARGS := $(ARGS)
svhn svhn-smoke bc-cifar10 bc-cifar10-smoke bc-svhn bc-svhn-smoke: override ARGS :=
svhn: svhn-h5 ## build the SVHN h5 files, train the BinaryNet SVHN ConvNet (needs about 16 GB of memory)
	$(call train,binarynet.svhn,binarynet-svhn,$(TRAIN_ARGS))

svhn-smoke: svhn-h5 ## a small BinaryNet SVHN run for a CPU (reads only the rows it uses)
	$(call train,binarynet.svhn,binarynet-svhn-smoke,$(SMOKE_SVHN) $(TRAIN_ARGS))

bc-mnist: download-mnist ## fetch MNIST, train the BinaryConnect MNIST MLP with the paper's settings
	$(call train,binaryconnect.mnist,binaryconnect-mnist)

bc-mnist-smoke: download-mnist ## a small BinaryConnect MNIST run that learns in about two minutes on a CPU
	$(call train,binaryconnect.mnist,binaryconnect-mnist-smoke,$(SMOKE_MNIST))

bc-cifar10: cifar10-whitened ## build the whitened CIFAR-10, train the BinaryConnect CIFAR-10 ConvNet
	$(call train,binaryconnect.cifar10,binaryconnect-cifar10,$(TRAIN_ARGS))

bc-cifar10-smoke: cifar10-whitened ## a small BinaryConnect CIFAR-10 run for a CPU (a few minutes)
	$(call train,binaryconnect.cifar10,binaryconnect-cifar10-smoke,$(SMOKE_CONVNET) $(TRAIN_ARGS))

bc-svhn: svhn-h5 svhn-preprocess ## GCN + LCN the SVHN h5 files, train the BinaryConnect SVHN ConvNet (about 16 GB)
	$(call train,binaryconnect.svhn,binaryconnect-svhn,$(TRAIN_ARGS))

bc-svhn-smoke: svhn-h5 svhn-preprocess ## a small BinaryConnect SVHN run for a CPU
	$(call train,binaryconnect.svhn,binaryconnect-svhn-smoke,$(SMOKE_SVHN) $(TRAIN_ARGS))

compare: $(STAMP) ## every run beside the paper: a table, $(RUNS)/comparison.png and .svg (ARGS="--csv FILE")
	$(PYTHON) -m results.compare --runs $(RUNS) $(ARGS)

evaluate: $(STAMP) ## test error of a finished run's best epoch (RUN=folder; ARGS="--engine packed" for XNOR)
	$(PYTHON) -m deploy.evaluate $(RUN) $(ARGS)

summary: $(STAMP) ## a run's network per layer: 1-bit and 32-bit parameters, memory, binary and float MACs (RUN=)
	$(PYTHON) -m deploy.summary $(RUN) $(ARGS)

export: $(STAMP) ## a finished run's best network as packed bits, RUN/packed.npz (docs/EXPORT.md; RUN=folder)
	$(PYTHON) -m deploy.export $(RUN) $(ARGS)

benchmark-packed: $(STAMP) ## weight memory and time per image, packed XNOR-popcount vs Theano, paper-size MLP
	$(PYTHON) -m benchmarks.packed_mnist $(ARGS)

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

docker-build: ## build the CUDA image $(IMAGE) from docker/Dockerfile
	docker build -f docker/Dockerfile -t $(IMAGE) .

docker-shell: ## a shell in the container (data and runs mounted)
	mkdir -p $(RUNS) $(PYLEARN2_DATA_PATH)
	docker run -it $(DOCKER_OPTS) $(IMAGE) bash

docker-selfcheck-gpu: ## in the container: versions, and fail unless Theano sees the GPU
	mkdir -p $(RUNS) $(PYLEARN2_DATA_PATH)
	docker run $(DOCKER_OPTS) $(IMAGE) make selfcheck-gpu

docker-%: ## any target in the container, e.g. `make docker-mnist`
	mkdir -p $(RUNS) $(PYLEARN2_DATA_PATH)
	docker run $(DOCKER_OPTS) $(IMAGE) make $* ARGS="$(ARGS)"
