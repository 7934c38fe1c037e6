# BinaryNet / BinaryConnect reproduction. `make help` lists the targets; README.md explains them.
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

SMOKE_MNIST := --num-epochs 3 --num-units 256 --n-hidden-layers 2 --train-size 5000 --valid-size 1000 --test-size 1000
SMOKE_CIFAR10 := --num-epochs 3 --filters 16 16 32 32 64 64 --num-units 256 --train-size 5000 --valid-size 1000 \
	--test-size 1000

IMAGE ?= binarized-nets:latest
DOCKER_OPTS := --rm --gpus all --user $$(id -u):$$(id -g) -e HOME=/runs \
	-v $(abspath $(PYLEARN2_DATA_PATH)):/data -v $(abspath $(RUNS)):/runs

.PHONY: help setup test test-fast lint selfcheck selfcheck-gpu mnist mnist-smoke cifar10 cifar10-smoke svhn \
	bc-mnist bc-mnist-smoke bc-cifar10 bc-svhn compare \
	benchmark-mnist benchmark-convnet benchmark-svhn-h5 download $(DOWNLOADS) cifar10-whitened svhn-h5 svhn-preprocess \
	docker-build docker-shell

help:
	@echo "make mnist            set up, fetch MNIST, train BinaryNet MNIST with the paper's settings (ARGS=... adds flags)"
	@echo "make test             set up, run the test suite (make test-fast skips the real-data training runs)"
	@echo "make mnist-smoke      a small BinaryNet MNIST run that finishes on a CPU in minutes"
	@echo "make cifar10          fetch CIFAR-10, train the BinaryNet CIFAR-10 ConvNet with the paper's settings"
	@echo "make cifar10-smoke    a small BinaryNet CIFAR-10 run (1/8 of the filters) that finishes on a CPU in minutes"
	@echo "make svhn             build the SVHN h5 files, train the BinaryNet SVHN ConvNet (needs about 16 GB of memory)"
	@echo "make bc-mnist         fetch MNIST, train the BinaryConnect MNIST MLP with the paper's settings"
	@echo "make bc-mnist-smoke   a small BinaryConnect MNIST run that finishes on a CPU in minutes"
	@echo "make bc-cifar10       build the whitened CIFAR-10, train the BinaryConnect CIFAR-10 ConvNet"
	@echo "make bc-svhn          GCN + LCN the SVHN h5 files, train the BinaryConnect SVHN ConvNet (about 16 GB of memory)"
	@echo "make compare          each run's test error beside the paper's: a table, and $(RUNS)/comparison.svg"
	@echo "make benchmark-mnist  seconds per iteration and per epoch of the paper-size MLP on this device"
	@echo "make benchmark-convnet  the same for a ConvNet (ARGS=\"--dataset cifar10|svhn --iterations N\")"
	@echo "make benchmark-svhn-h5  peak memory and speed of building the SVHN h5 files (synthetic inputs)"
	@echo "make download         fetch every dataset (or download-mnist, download-cifar10, download-svhn)"
	@echo "make cifar10-whitened | svhn-h5 | svhn-preprocess   build derived datasets"
	@echo "make selfcheck        versions of the stack, and the GPU Theano sees (selfcheck-gpu fails without one)"
	@echo "make docker-build | docker-shell | docker-TARGET    the CUDA image; docker-mnist runs 'make mnist' in it"

# The one install recipe: docker/install.sh (the Dockerfile runs it too).
setup:
	bash docker/install.sh --venv $(VENV) $(INSTALL_FLAGS)

$(STAMP):
	$(MAKE) --no-print-directory setup

test: $(STAMP)
	$(PYTHON) -m pytest

test-fast: $(STAMP)
	$(PYTHON) -m pytest -m "not slow"

LINTERS := $(VENV)/bin/ruff $(VENV)/bin/hadolint
lint: $(STAMP)
	@for tool in $(LINTERS); do [ -x $$tool ] || { echo "error: $$tool is missing: run \`make setup INSTALL_FLAGS=--lint\`" >&2; exit 1; }; done
	$(VENV)/bin/ruff check .
	$(VENV)/bin/hadolint docker/Dockerfile

selfcheck: $(STAMP)
	$(PYTHON) -m compat.selfcheck

selfcheck-gpu: $(STAMP)
	$(PYTHON) -m compat.selfcheck --require-gpu

download: $(STAMP)
	$(PYTHON) -m datasets.download all

# A static pattern rule (make skips plain pattern rules for .PHONY targets).
$(DOWNLOADS): download-%: $(STAMP)
	$(PYTHON) -m datasets.download $*

# $(call train,MODULE,RUN,FLAGS): python -m MODULE writing into $(RUNS)/RUN (ARGS may name another
# --output-dir); the script itself appends its console to console.log in its run folder.
define train
$(PYTHON) -u -m $(1) --output-dir $(RUNS)/$(2) $(3) $(ARGS)
endef

mnist: download-mnist
	$(call train,binarynet.mnist,binarynet-mnist)

mnist-smoke: download-mnist
	$(call train,binarynet.mnist,binarynet-mnist-smoke,$(SMOKE_MNIST))

cifar10: download-cifar10
	$(call train,binarynet.cifar10,binarynet-cifar10)

cifar10-smoke: download-cifar10
	$(call train,binarynet.cifar10,binarynet-cifar10-smoke,$(SMOKE_CIFAR10))

# ARGS are the training script's: the prerequisites that build datasets run without them.
svhn bc-cifar10 bc-svhn: override TRAIN_ARGS := $(ARGS)
svhn bc-cifar10 bc-svhn: override ARGS :=
svhn: svhn-h5
	$(call train,binarynet.svhn,binarynet-svhn,$(TRAIN_ARGS))

bc-mnist: download-mnist
	$(call train,binaryconnect.mnist,binaryconnect-mnist)

bc-mnist-smoke: download-mnist
	$(call train,binaryconnect.mnist,binaryconnect-mnist-smoke,$(SMOKE_MNIST))

bc-cifar10: cifar10-whitened
	$(call train,binaryconnect.cifar10,binaryconnect-cifar10,$(TRAIN_ARGS))

bc-svhn: svhn-h5 svhn-preprocess
	$(call train,binaryconnect.svhn,binaryconnect-svhn,$(TRAIN_ARGS))

compare: $(STAMP)
	$(PYTHON) -m results.compare --runs $(RUNS) $(ARGS)

benchmark-mnist: $(STAMP)
	$(PYTHON) -m benchmarks.mnist_mlp $(ARGS)

benchmark-convnet: $(STAMP)
	$(PYTHON) -m benchmarks.convnet $(ARGS)

benchmark-svhn-h5: $(STAMP)
	$(PYTHON) -m benchmarks.svhn_h5 $(ARGS)

cifar10-whitened: download-cifar10
	$(PYTHON) -m datasets.cifar10_whitened $(ARGS)

svhn-h5: download-svhn
	$(PYTHON) -m datasets.svhn_h5 $(ARGS)

svhn-preprocess: $(STAMP)
	$(PYTHON) -m binaryconnect.svhn_preprocessing $(ARGS)

docker-build:
	docker build -f docker/Dockerfile -t $(IMAGE) .

docker-shell:
	mkdir -p $(RUNS) $(PYLEARN2_DATA_PATH)
	docker run -it $(DOCKER_OPTS) $(IMAGE) bash

docker-%:
	mkdir -p $(RUNS) $(PYLEARN2_DATA_PATH)
	docker run $(DOCKER_OPTS) $(IMAGE) make $* ARGS="$(ARGS)"
