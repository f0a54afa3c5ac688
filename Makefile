# gostitch: `make demo` runs the demo, `make test` runs every test. Both set up what they need.
SHELL := /bin/bash
GO ?= go
CACHE ?= $(HOME)/.cache/gostitch
OCB_VERSION := v0.165.0
OCB := $(CACHE)/bin/builder-$(OCB_VERSION)
DIST := dist/otelcol-gostitch
JAEGER_VERSION := v1.75.0
# the cached binary is named after the tools module too: a change of its requirements builds anew
JAEGER := $(CACHE)/bin/jaeger-$(JAEGER_VERSION)-$(shell sha256sum tools/jaeger/go.sum | cut -c1-12)
SYNCNODE := bin/syncnode
DEMO_SECONDS ?= 60

FUZZTIME ?= 30s
# package:target of every fuzz target (decoders of outside bytes)
FUZZ_TARGETS := ./receiver/internal/pprofsrc:FuzzDecodeConvert ./receiver/internal/tracesrc:FuzzRead \
	./receiver/internal/exectrace:FuzzReader \
	./receiver/internal/ebpfsrc:FuzzDecodeRecord ./examples/syncnode:FuzzReadMessage \
	./receiver/internal/push:FuzzPushHandler ./receiver:FuzzConfig ./receiver:FuzzWindow

.PHONY: build demo screenshot test setup generate bpf bpf-check fuzz bench jaeger

## build: the collector distribution (dist/otelcol-gostitch) and the syncnode demo (bin/syncnode)
# The distribution is compiled with profile-guided optimization from default.pgo, a CPU profile of
# itself converting real apps' windows (scripts/pgo-profile.sh makes it; BENCHMARKS.md, its gain).
build: $(OCB)
	GOFLAGS="$(GOFLAGS) -pgo=$(CURDIR)/default.pgo" $(OCB) --config builder-config.yaml
	$(GO) build -o $(SYNCNODE) ./examples/syncnode

$(OCB):
	mkdir -p $(CACHE)/bin
	GOBIN=$(CACHE)/tmpbin $(GO) install go.opentelemetry.io/collector/cmd/builder@$(OCB_VERSION)
	mv $(CACHE)/tmpbin/builder $(OCB)

## jaeger: Jaeger v1.75.0 for the end-to-end tests, built once from tools/jaeger (about 10 minutes on 2 cores)
jaeger: $(JAEGER)

$(JAEGER):
	mkdir -p $(CACHE)/bin
	cd tools/jaeger && $(GO) build -o $(JAEGER).tmp github.com/jaegertracing/jaeger/cmd/jaeger
	mv $(JAEGER).tmp $(JAEGER)

## setup: system packages and mounts the tests need (eBPF as root: tracefs, clang to check generated objects, nftables and iproute2 for network namespaces)
setup:
	@bash scripts/setup.sh

## demo: Jaeger, syncnode with a slow peer, the collector on examples/demo.yaml, for DEMO_SECONDS seconds
demo: setup build $(JAEGER)
	@DEMO_SECONDS=$(DEMO_SECONDS) JAEGER=$(JAEGER) bash scripts/demo.sh

## screenshot: docs/jaeger-trace.png (the demo's slowest block import) and docs/jaeger-otelapp.png (an examples/otelapp
## request) in the Jaeger UI, by headless Chromium; needs a built Jaeger UI (docs/screenshots.md) in JAEGER_UI_ASSETS,
## default $(CACHE)/jaeger-ui; installs chromium and jq with apt-get
screenshot: setup build $(JAEGER)
	@JAEGER=$(JAEGER) CACHE=$(CACHE) bash scripts/screenshot.sh

## test: everything, as CI runs it
test: setup build bpf-check $(JAEGER)
	$(GO) mod tidy -diff
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt: not formatted: $$unformatted" >&2; exit 1; fi
	$(GO) vet ./...
	GOSTITCH_DIST=$(CURDIR)/$(DIST) GOSTITCH_JAEGER=$(JAEGER) $(GO) test -count=1 -timeout 30m ./...
	$(MAKE) --no-print-directory fuzz FUZZTIME=20000x

## generate: receiver/internal/metadata and documentation.md from metadata.yaml (and the gostitchjoin processor's from its own)
generate:
	$(GO) generate ./receiver/internal/metadata ./processor/gostitchjoinprocessor/internal/metadata

## bpf: regenerate the eBPF object and its Go bindings (needs clang, llvm-strip, libbpf-dev)
bpf:
	$(GO) generate ./bpf/...

## bpf-check: the committed eBPF object and bindings are what the C sources compile to
bpf-check:
	@tmp=$$(mktemp -d) && cp bpf/socket_bpfel.o bpf/socket_bpfel.go $$tmp/ && \
	$(GO) generate ./bpf/... && \
	if cmp -s $$tmp/socket_bpfel.o bpf/socket_bpfel.o && cmp -s $$tmp/socket_bpfel.go bpf/socket_bpfel.go; then \
		echo "bpf-check: committed eBPF output is current"; rm -rf $$tmp; \
	else echo "bpf-check: bpf/ output differs from its sources: run make bpf and commit" >&2; rm -rf $$tmp; exit 1; fi

## fuzz: each fuzz target for FUZZTIME, a duration or an exec count like 20000x (CI counts execs: a
## duration can end a slow input mid-run, which go test reports as "context deadline exceeded")
fuzz:
	@for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; name=$${t##*:}; \
		echo "== $$name ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -parallel 2 $$pkg || exit 1; done

## bench: the benchmarks behind BENCHMARKS.md (long: about 30 minutes)
bench:
	$(GO) test -run '^$$' -bench Convert -count 6 ./receiver/internal/pprofsrc/ | tee $(CACHE)/bench-pprof.txt
	$(GO) test -run '^$$' -bench Trace -count 6 -timeout 60m ./receiver/internal/stitch/ | tee $(CACHE)/bench-trace.txt
	$(GO) test -run '^$$' -bench Loopback -benchtime 500ms ./receiver/internal/ebpfsrc/ | tee $(CACHE)/bench-ebpf.txt
