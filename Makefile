# lvslab: the README's two commands are `sudo make bench` and `sudo make test`.
GO      ?= $(shell command -v go || echo /usr/local/go/bin/go)
BIN     := bin/lvslab
LABELS  ?=
# FORCE_VM=1 runs the IPVS suites in the VM even where the host has ip_vs.
FORCE_VM ?=
KERNEL  ?= debian-6.1
RESULTS ?= results
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
GOFLAGS_TEST := -count=1

ginkgo_base  = -ginkgo.no-color -ginkgo.v=false
ginkgo_flags = $(ginkgo_base) $(if $(LABELS),-ginkgo.label-filter='$(LABELS)')

.PHONY: all build deps test unit test-lab test-ipvs test-matrix bench lint clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -ldflags "-X main.buildVersion=$(VERSION)" -o $(BIN) ./cmd/lvslab

deps:
	@bash ci/deps.sh

# Unit tests (no root), the lab suite on this host, then the IPVS suites on
# this host if its kernel has ip_vs, else inside a VM (lvslab vm).
test: deps build
	@rm -f $(RESULTS)/*-junit.xml
	$(MAKE) --no-print-directory unit test-lab test-ipvs
	@$(BIN) summary $(RESULTS)/*-junit.xml

# Every package but the two suites that need root.
unit:
	$(GO) test $(GOFLAGS_TEST) $$($(GO) list ./... | grep -v -e /suites/lab$$ -e /suites/ipvs$$)

test-lab: build
	@mkdir -p $(RESULTS)
	LVSLAB_BIN=$(abspath $(BIN)) $(GO) test $(GOFLAGS_TEST) -v ./suites/lab/ $(ginkgo_flags) \
		-ginkgo.junit-report=$(abspath $(RESULTS))/lab-junit.xml

# Label filters: the perf specs run apart from the others, in a VM whose
# clock counts executed instructions (see lvslab vm --help: --icount).
only = $(if $(LABELS),($(LABELS)) && )
ICOUNT := shift=2,sleep=off

test-ipvs: build
	@mkdir -p $(RESULTS)
	$(GO) test -c -o bin/ipvs.test ./suites/ipvs/
	@if [ -z "$(FORCE_VM)" ] && { [ -e /proc/net/ip_vs ] || modprobe -q ip_vs 2>/dev/null; }; then \
		echo "== IPVS suites on this host (kernel $$(uname -r) has ip_vs)"; \
		LVSLAB_BIN=$(abspath $(BIN)) bin/ipvs.test $(ginkgo_flags) -ginkgo.junit-report=$(abspath $(RESULTS))/ipvs-junit.xml; \
	else \
		echo "== this kernel has no ip_vs: IPVS suites run inside a VM ($(KERNEL))"; \
		LVSLAB_BIN=$(abspath $(BIN)) $(BIN) vm --kernel $(KERNEL) --out $(RESULTS) -- bin/ipvs.test $(ginkgo_base) \
			-ginkgo.label-filter='$(only)!perf' -ginkgo.junit-report=$(abspath $(RESULTS))/ipvs-$(KERNEL)-junit.xml && \
		echo "== the perf specs, in a VM with an instruction-driven clock ($(KERNEL))" && \
		LVSLAB_BIN=$(abspath $(BIN)) $(BIN) vm --kernel $(KERNEL) --cpus 1 --icount $(ICOUNT) --out $(RESULTS) -- bin/ipvs.test $(ginkgo_base) \
			-ginkgo.label-filter='$(only)perf && !isolation' -ginkgo.junit-report=$(abspath $(RESULTS))/perf-$(KERNEL)-junit.xml && \
		echo "== the isolation spec, in a VM with a vCPU per station ($(KERNEL))" && \
		LVSLAB_BIN=$(abspath $(BIN)) $(BIN) vm --kernel $(KERNEL) --cpus 3 --out $(RESULTS) -- bin/ipvs.test $(ginkgo_base) \
			-ginkgo.label-filter='$(only)isolation' -ginkgo.junit-report=$(abspath $(RESULTS))/isolation-$(KERNEL)-junit.xml; \
	fi

# The IPVS suites on every kernel of the shipped list, one summary line each.
test-matrix: deps build
	$(GO) test -c -o bin/ipvs.test ./suites/ipvs/
	$(BIN) vm --matrix --out $(RESULTS) -- bin/ipvs.test $(ginkgo_base) -ginkgo.label-filter='$(only)!perf'
	$(BIN) vm --matrix --cpus 1 --icount $(ICOUNT) --out $(RESULTS) -- bin/ipvs.test $(ginkgo_base) -ginkgo.label-filter='$(only)perf && !isolation'
	$(BIN) vm --matrix --cpus 3 --out $(RESULTS) -- bin/ipvs.test $(ginkgo_base) -ginkgo.label-filter='$(only)isolation'

# The README's main job: the paper's benchmark, every mode, default sweep.
bench: deps build
	$(BIN) bench --out $(RESULTS)/bench $(BENCH_FLAGS)

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

clean:
	rm -rf bin
