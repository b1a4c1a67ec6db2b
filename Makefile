# vessel: the two commands a newcomer needs are `make demo` and `make test`.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)

# Fuzz targets run briefly by `make test`: package:Target:budget. Budgets
# are execution counts (about 10 s each on a 2-core machine), not times:
# Go 1.26's fuzzer can fail a target with "context deadline exceeded" when
# a -fuzztime duration runs out mid-execution (golang/go#75804, fixed in
# Go 1.27); a count has no deadline to race.
FUZZ_TARGETS := \
	./artifact:FuzzCleanPath:250000x \
	./artifact:FuzzParseManifest:250000x \
	./artifact:FuzzUnpackTar:20000x \
	./artifact:FuzzApplyConfig:120000x \
	./registry:FuzzReferrers:60000x \
	./attest:FuzzVerifySignatures:25000x \
	./oms:FuzzParseStatement:60000x \
	./registry:FuzzParseReference:140000x \
	./registry:FuzzParseRange:140000x \
	./attest:FuzzParsePolicy:15000x \
	./oms:FuzzVerifyBundle:25000x

.PHONY: all build build-full tools test test-full test-torch torch-if-present unit cross fuzz e2e demo image python bench clean

all: build

# vessel, and vessel-registry (the embedded registry, a binary of its own:
# see cmd/vessel-registry).
build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/vessel ./cmd/vessel
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/vessel-registry ./cmd/vessel-registry

# vessel with hardware and cloud keys: PKCS#11 (cosign's client needs cgo)
# and the KMS providers (AWS, GCP, Azure, Vault; their SDKs add ~12 MB),
# which the default build leaves out.
build-full:
	CGO_ENABLED=1 $(GO) build -trimpath -tags pkcs11key,kms -ldflags '$(LDFLAGS)' -o bin/vessel-full ./cmd/vessel

# Signing with a key in SoftHSM2, verified by vessel and cosign. Needs cgo
# and Debian's softhsm2 and opensc, so it is not part of `make test` (the
# KMS test is: it builds vessel with the kms tag itself).
test-full: build-full tools
	VESSEL_E2E_BIN=$(CURDIR)/bin/vessel-full $(GO) test -tags e2e,pkcs11key -count=1 -run 'TestPKCS11' ./e2e/...

# Pinned third-party binaries (oras, CNCF Distribution, cosign) into .bin/,
# built from the Go module proxy once and cached.
tools:
	hack/install-tools.sh all

# Everything CI runs: vet, unit tests, brief fuzzing, end-to-end tests
# against real registry processes and real third-party clients, and the
# demo (the newcomer's first command must keep working).
test: unit cross fuzz e2e demo python torch-if-present

unit:
	$(GO) vet ./...
	$(GO) vet -tags e2e ./e2e/...
	$(GO) test -race -count=1 ./...

# vessel builds for macOS and Windows too (ML engineers push from
# laptops): vet every package, tests included, for each of them.
CROSS := darwin/arm64 darwin/amd64 windows/amd64
cross:
	@set -e; for p in $(CROSS); do \
		echo "vet GOOS=$${p%/*} GOARCH=$${p#*/}"; \
		GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) vet ./...; \
		GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) vet -tags e2e ./e2e/...; \
	done

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; rest=$${t#*:}; name=$${rest%%:*}; budget=$${rest#*:}; \
		echo "fuzz $$pkg $$name ($$budget)"; \
		$(GO) test $$pkg -run='^$$' -fuzz="^$$name\$$" -fuzztime=$$budget -fuzzminimizetime=100x; \
	done

e2e: tools
	$(GO) test -tags e2e -count=1 -timeout 20m ./e2e/...

# The Python package training loops sign checkpoints with (python/vessel_ml,
# standard library only), against the real binaries and embedded registry.
python: build
	@command -v python3 >/dev/null || { echo "make python: python3 is needed to test python/vessel_ml"; exit 1; }
	VESSEL_BIN=$(CURDIR)/bin/vessel VESSEL_REGISTRY_BIN=$(CURDIR)/bin/vessel-registry python3 -m unittest discover -s python/tests -v

# vessel_ml with a real PyTorch training loop: needs a python3 with torch
# (Debian: apt-get install python3-torch; then PYTHON=/usr/bin/python3).
PYTHON ?= python3
test-torch: build
	VESSEL_BIN=$(CURDIR)/bin/vessel VESSEL_REGISTRY_BIN=$(CURDIR)/bin/vessel-registry $(PYTHON) -m unittest discover -s python/torch_tests -v

# `make test` runs the PyTorch loop wherever a python3 with torch is found
# ($(PYTHON), then Debian's /usr/bin/python3); a machine with only Go and
# python3 cannot run it, and is told so rather than failing.
torch-if-present:
	@set -e; for p in $(PYTHON) /usr/bin/python3; do \
		if command -v $$p >/dev/null && $$p -c 'import torch' 2>/dev/null; then \
			$(MAKE) --no-print-directory test-torch PYTHON=$$p; exit 0; \
		fi; \
	done; \
	echo "make test: NOT RUN: the PyTorch training-loop test (no python3 with torch here; apt-get install python3-torch, or make test-torch PYTHON=...)"

# Build vessel and run its main job against an embedded registry.
# vessel's container image, built without Docker (hack/image: static
# binaries for linux/amd64 and linux/arm64, one layer each, non-root,
# reproducible), pushed to IMAGE and, given IMAGE_KEY, signed by vessel.
#   make image IMAGE=ghcr.io/you/vessel:v1 [IMAGE_KEY=release.key]
image: build
	@test -n "$(IMAGE)" || { echo "usage: make image IMAGE=registry/repo:tag [IMAGE_KEY=key]"; exit 2; }
	pinned=$$($(GO) run ./hack/image -push '$(IMAGE)' -version '$(VERSION)' -commit '$(COMMIT)' -created "$${SOURCE_DATE_EPOCH:-$$(git log -1 --format=%ct 2>/dev/null || echo 0)}") && \
	echo "$$pinned" && \
	if [ -n '$(IMAGE_KEY)' ]; then bin/vessel sign "$$pinned" --key '$(IMAGE_KEY)'; fi

demo: build
	VESSEL=bin/vessel hack/demo.sh

# vessel vs oras (push, pull, copy, resume, sign, peak RSS) against
# Distribution and olareg; go run ./hack/bench -h for a quicker subset.
bench: build
	hack/install-tools.sh light
	$(GO) run ./hack/bench -vessel bin/vessel

clean:
	rm -rf bin
