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

# The lab's secrets (git ignores build/): the vault password file made here,
# and the key pair, known_hosts and vault the lab role makes beside it.
LAB_DIR := $(CURDIR)/build/lab
VAULT_PASSWORD_FILE := $(LAB_DIR)/vault-password
lab bench molecule: export ANSIBLE_VAULT_PASSWORD_FILE := $(VAULT_PASSWORD_FILE)

.PHONY: help venv lab-secrets lab lab-down bench test lint syntax unit host-tools molecule clean

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

lab-secrets: $(VAULT_PASSWORD_FILE)

$(VAULT_PASSWORD_FILE):
	install -d -m 0700 $(LAB_DIR)
	umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(32))' > $@

lab: venv lab-secrets
	ansible-playbook -i $(LAB) tests/lab/lab-up.yml
	ansible-playbook -i $(LAB) site.yml

bench: venv lab-secrets
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
	pytest -rs tests/unit tests/integration

molecule: venv lab-secrets
	for scenario in $(SCENARIOS); do \
	  molecule test --scenario-name "$$scenario"; \
	done

clean: lab-down
	rm -rf build reports
