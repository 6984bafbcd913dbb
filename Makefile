# lvslab: the README's two commands are `sudo make bench` and `sudo make test`.
GO      ?= $(shell command -v go || echo /usr/local/go/bin/go)
BIN     := bin/lvslab
LABELS  ?=
# FORCE_VM=1 runs the IPVS suite in the VM even where the host has ip_vs.
FORCE_VM ?=
# KERNEL names a kernel of fixtures/kernels.yaml (default: the list's own).
KERNEL  ?=
RESULTS ?= results
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
GOFLAGS_TEST := -count=1

ginkgo_flags = -ginkgo.no-color $(if $(LABELS),-ginkgo.label-filter='$(LABELS)')

.PHONY: all build deps test unit test-lab test-ipvs test-matrix bench lint clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -ldflags "-X main.buildVersion=$(VERSION)" -o $(BIN) ./cmd/lvslab

deps:
	@bash ci/deps.sh

# Unit tests (no root), the lab suite on this host, then the IPVS suite:
# on this host if its kernel has ip_vs, else (its TestMain decides) inside
# a VM, in $(PROCS) Ginkgo processes, with the perf specs in a VM of their own.
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

PROCS ?= 2
GINKGO := bin/ginkgo

test-ipvs: build
	@mkdir -p $(RESULTS)
	$(GO) test -c -o bin/ipvs.test ./suites/ipvs/
	$(GO) build -o $(GINKGO) github.com/onsi/ginkgo/v2/ginkgo
	LVSLAB_BIN=$(abspath $(BIN)) LVSLAB_GINKGO=$(abspath $(GINKGO)) LVSLAB_PROCS=$(PROCS) LVSLAB_KERNEL=$(KERNEL) \
		LVSLAB_FORCE_VM=$(FORCE_VM) bin/ipvs.test -test.timeout=60m $(ginkgo_flags) \
		-ginkgo.junit-report=$(abspath $(RESULTS))/ipvs$(if $(KERNEL),-$(KERNEL))-junit.xml \
		-ginkgo.json-report=$(abspath $(RESULTS))/ipvs$(if $(KERNEL),-$(KERNEL)).json

# The IPVS suite on every kernel of the shipped list, one line each (specs
# and wall time, in $(RESULTS)/matrix.txt), then the table of IPVS behaviour
# by kernel ($(RESULTS)/kernels.md). Every
# kernel runs even if one fails; the status says whether any did.
test-matrix: deps build
	@rm -f $(RESULTS)/matrix.txt $(RESULTS)/*ipvs-*.json $(RESULTS)/*ipvs-*-junit.xml; mkdir -p $(RESULTS); failed=; \
	for k in $$($(BIN) kernels list --names); do \
		start=$$(date +%s); status=passed; \
		$(MAKE) --no-print-directory test-ipvs KERNEL=$$k FORCE_VM=1 || { status="FAILED (exit $$?)"; failed="$$failed $$k"; }; \
		specs=$$(test -f $(RESULTS)/ipvs-$$k-junit.xml && $(BIN) summary $(RESULTS)/*ipvs-$$k-junit.xml 2>&1 | tail -1 || echo "no report of the suite: it did not finish"); \
		echo "$$k: $$status; $$specs; wall $$(( $$(date +%s) - start )) s" >> $(RESULTS)/matrix.txt; \
	done; \
	cat $(RESULTS)/matrix.txt; \
	$(BIN) summary --kernels $(RESULTS)/*ipvs-*.json > $(RESULTS)/kernels.md && echo "behaviour by kernel: $(RESULTS)/kernels.md"; \
	test -z "$$failed" || { echo "failed on:$$failed"; exit 1; }

# The README's main job: the paper's benchmark, every mode, default sweep.
bench: deps build
	$(BIN) bench --out $(RESULTS)/bench $(BENCH_FLAGS)

# actionlint comes from tools/go.mod, a module of its own, so that its
# requirements stay out of the application's go.mod.
lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) -C tools tool actionlint $(abspath ci/github-actions.yml)

clean:
	rm -rf bin
