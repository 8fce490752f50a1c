# virt.disk: build and test front door. `make help` lists the targets.
#
#   make demo   mount a partition of a sample image with virt.disk.image_mount
#   make test   every tier: setup sync, then kernel, lint and release-check in the background beside sanity units ...
#
# Under CI=true (as .ci/run sets it) a tier that cannot run fails; it is never
# skipped.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
BUILD := $(CURDIR)/build
DEMO_DIR ?= $(BUILD)/demo
DEMO_IMAGE := $(DEMO_DIR)/sample.img

export VENV
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH):/usr/sbin:/sbin
export ANSIBLE_COLLECTIONS_PATH := $(BUILD)/collections
export ANSIBLE_LOCALHOST_WARNING := false
export ANSIBLE_INVENTORY_UNPARSED_WARNING := false

# +kernel: the kernel tier (a QEMU guest) runs in the background, beside the
# host tiers after it; hack/run-tiers.sh waits for it at the end.
# +matrix-static: sanity and units of the other ansible-core versions
# (tests/matrix.txt) in the background too; they use no device.
# +release-venv: .venv-release installed in the background (mostly downloads);
# release-check waits for it (hack/setup.sh takes a lock).
# +images: the Debian userland of the target image_mount_os (mmdebstrap,
# cached in build/images); integration waits for it the same way.
# +lint, +release-check: they use no device either; in the background (niced)
# they take idle CPU beside the device tiers, which wait on the kernel a lot.
TIERS := setup sync +kernel +matrix-static +release-venv +images +lint +release-check sanity units integration system molecule matrix-integration

.PHONY: help setup setup-demo sync sanity lint release-venv images release-check units integration system molecule matrix matrix-static matrix-integration kernel test-kernel bench leaks test \
	demo build changelog clean

help:
	@echo "virt.disk make targets:"
	@echo "  make demo         build a sample image and mount/unmount it with virt.disk.image_mount (build/demo/)"
	@echo "  make test         all tiers, stop at the first failure (+: in the background): $(TIERS)"
	@echo "  make setup        apt tools (as root) and $(VENV) with tests/requirements.txt; idempotent"
	@echo "  make sync         copy the tree to build/collections/ansible_collections/virt/disk"
	@echo "  make sanity       ansible-test sanity (all tests, Python 3.11, no ignore files)"
	@echo "  make lint         ansible-lint, production profile"
	@echo "  make release-venv the release tooling's venv .venv-release (tests/release-requirements.txt)"
	@echo "  make images       the Debian userland of the integration target image_mount_os (mmdebstrap, cached in build/images)"
	@echo "  make release-check  licensing (reuse), tarball contents, ansible-builder introspect, galaxy-importer (.venv-release)"
	@echo "  make units        ansible-test units (tests/unit)"
	@echo "  make integration  ansible-test integration on this host (root, destructive), then the leak check"
	@echo "  make system       concurrency and fault tests (tests/system, pytest-ansible, real devices), then the leak check"
	@echo "  make molecule     the molecule scenario extensions/molecule/default on localhost, then the leak check"
	@echo "  make matrix       sanity, units and integration on the other ansible-core versions of tests/matrix.txt"
	@echo "                    (matrix-static: sanity and units; matrix-integration: integration)"
	@echo "  make kernel       the real-kernel tier: nbd, kpartx, kernel scan, the role and playbook runs in a Debian kernel under QEMU"
	@echo "  make bench        image_mount against hand-written commands, data path, busy host (build/bench/; root, ~12 min)"
	@echo "  make leaks        the leak check alone (loop devices, mounts, qemu helpers, nbd, dm)"
	@echo "  make build        ansible-galaxy collection build into build/dist"
	@echo "  make changelog    lint the changelog fragments"
	@echo "  make clean        remove build/"

setup:
	@hack/setup.sh full

setup-demo:
	@hack/setup.sh demo

sync:
	@hack/sync.sh

sanity: sync
	@hack/sanity.sh

# niced, as the other tiers make test runs in the background
lint: sync
	nice -n 10 ansible-lint

# Licensing, the built tarball's contents, the execution environment and the
# Galaxy import, with its own tooling in .venv-release (hack/release-check.sh).
release-check: build
	@nice -n 10 hack/release-check.sh

release-venv:
	@hack/setup.sh release

# the host's and the arm64 userland at once (the arm64 one runs its package
# scripts under qemu-user and takes longest); either failing fails the tier
images:
	@hack/debian-rootfs.sh arm64 >/dev/null & arm=$$!; \
	hack/debian-rootfs.sh >/dev/null || { wait $$arm; exit 1; }; \
	wait $$arm

units: sync
	@hack/units.sh

integration: sync
	@hack/integration.sh

system: sync
	python -m pytest -v -p no:cacheprovider tests/system
	@hack/check-leaks.sh

bench:
	@hack/bench.sh

# The real-kernel tier: a Debian kernel under QEMU (virtme-ng) proves nbd,
# kpartx, kernel partition scanning and module loading (tests/kernel/README.md).
# niced: in make test it runs beside the host tiers, which are the longer
# path; under TCG its QEMU would otherwise take a full core from them
kernel test-kernel: sync
	nice -n 10 bash tests/kernel/run.sh

# The other ansible-core versions of tests/matrix.txt, each in its own venv
# and copy of the tree.
matrix:
	@hack/matrix.sh sanity,units,integration

# niced: in make test it runs beside the kernel tier, which is the longest
matrix-static:
	@nice -n 10 hack/matrix.sh sanity,units

matrix-integration:
	@hack/matrix.sh integration

# every scenario: default (the role and the module on this host) and
# customize (an image as the instance, through the connection; its Debian
# userland is the one hack/debian-rootfs.sh caches)
molecule: sync
	VIRT_DISK_DEBIAN_ROOTFS=$$(hack/debian-rootfs.sh) molecule test --all
	@hack/check-leaks.sh

leaks:
	@hack/check-leaks.sh

test:
	@hack/run-tiers.sh $(TIERS)

demo: setup-demo sync
	@rm -f $(DEMO_IMAGE)
	ansible-playbook playbooks/demo.yml -e demo_dir=$(DEMO_DIR)
	@hack/check-leaks.sh $(DEMO_DIR)

build:
	ansible-galaxy collection build --force --output-path $(BUILD)/dist

changelog:
	antsibull-changelog lint

clean:
	rm -rf $(BUILD)
