# gostitch: `make demo` runs the demo, `make test` runs every test. Both set up what they need.
SHELL := /bin/bash
GO ?= go
CACHE ?= $(HOME)/.cache/gostitch
OCB_VERSION := v0.165.0
OCB := $(CACHE)/bin/builder-$(OCB_VERSION)
DIST := dist/otelcol-gostitch
SYNCNODE := bin/syncnode
DEMO_SECONDS ?= 60

.PHONY: build demo test setup generate bpf bpf-check fuzz bench

## build: the collector distribution (dist/otelcol-gostitch) and the syncnode demo (bin/syncnode)
build: $(OCB)
	$(OCB) --config builder-config.yaml
	$(GO) build -o $(SYNCNODE) ./examples/syncnode

$(OCB):
	mkdir -p $(CACHE)/bin
	GOBIN=$(CACHE)/tmpbin $(GO) install go.opentelemetry.io/collector/cmd/builder@$(OCB_VERSION)
	mv $(CACHE)/tmpbin/builder $(OCB)

## setup: system packages and mounts the tests need (eBPF as root: tracefs, clang to check generated objects, nftables and iproute2 for network namespaces)
setup:
	@bash scripts/setup.sh

## demo: syncnode with a slow peer, the collector on examples/demo.yaml, for DEMO_SECONDS seconds
demo: setup build
	@DEMO_SECONDS=$(DEMO_SECONDS) bash scripts/demo.sh

## test: everything, as CI runs it
test: setup build
	$(GO) vet ./...
	GOSTITCH_DIST=$(CURDIR)/$(DIST) $(GO) test -count=1 -timeout 30m ./...

## generate: receiver/internal/metadata and documentation.md from metadata.yaml
generate:
	$(GO) generate ./receiver/internal/metadata
