# make lab   - build the lab containers and run site.yml against them
# make test  - lint, pytest (unit + CUDA configure) and the molecule scenarios (what CI runs)
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
LAB ?= inventory/lab
SCENARIOS ?= link macos cluster

export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export CONTAINERS_CONF := $(CURDIR)/tests/lab/roles/lab/files/containers.conf
export PYTHONUNBUFFERED := 1

.PHONY: help venv lab lab-down bench test lint syntax unit host-tools molecule clean

help:
	@echo "make lab       build the lab ($(LAB)) and deploy site.yml on it"
	@echo "make bench     run the benchmark stage on the lab"
	@echo "make lab-down  remove the lab's containers and links"
	@echo "make test      lint, unit tests, molecule: $(SCENARIOS)"

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt scripts/bootstrap-host.sh
	scripts/bootstrap-host.sh
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

lab: venv
	ansible-playbook -i $(LAB) tests/lab/lab-up.yml
	ansible-playbook -i $(LAB) site.yml

bench: venv
	ansible-playbook -i $(LAB) site.yml --tags bench

lab-down: venv
	ansible-playbook -i $(LAB) tests/lab/lab-down.yml

test: lint unit molecule

lint: venv syntax
	yamllint --strict .
	ansible-lint

syntax: venv
	for inventory in inventory/*/; do \
	  echo "syntax-check with $$inventory"; \
	  ansible-playbook -i "$$inventory" site.yml --syntax-check; \
	done

host-tools: venv
	scripts/build-host-tools.sh

unit: venv host-tools
	pytest tests/unit tests/integration

molecule: venv
	for scenario in $(SCENARIOS); do \
	  molecule test --scenario-name "$$scenario"; \
	done

clean: lab-down
	rm -rf build reports
