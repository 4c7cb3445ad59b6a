# taonet build. `make demo` runs the main job; `make test` runs every test.
# Both install what is missing first (`make deps`).

SHELL       := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
GO          ?= go
TAGS        := libsqlite3
TOOLS       := $(CURDIR)/.tools/bin
export PATH := $(TOOLS):$(PATH)

# Pinned tool versions, installed from the Go module proxy into .tools/bin.
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.5.1
BUF_VERSION                := v1.75.0
GRPCURL_VERSION            := v1.9.3

APT_PACKAGES := g++ libtorch-dev libopenblas0-pthread dataset-fashion-mnist libsqlite3-dev sqlite3 chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps deps-apt deps-go deps-tools build shim test lint proto demo clean bench-ledger bench-rounds bench-transport bench-torch bench-flood bench-quality gpu-carry

all: build

## deps: install apt packages, Go modules and pinned tools that are missing
deps: deps-apt deps-go deps-tools

deps-apt:
	@missing=""; \
	for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing apt packages:$$missing"; \
	  $(SUDO) apt-get update -q; \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	else echo "deps: apt packages present"; fi

deps-go:
	@$(GO) mod download

deps-tools: $(TOOLS)/.protoc-gen-go-$(PROTOC_GEN_GO_VERSION) \
            $(TOOLS)/.protoc-gen-go-grpc-$(PROTOC_GEN_GO_GRPC_VERSION) \
            $(TOOLS)/.grpcurl-$(GRPCURL_VERSION) \
            $(TOOLS)/.buf-$(BUF_VERSION)

$(TOOLS)/.protoc-gen-go-$(PROTOC_GEN_GO_VERSION):
	@echo "deps: installing protoc-gen-go $(PROTOC_GEN_GO_VERSION)"
	@GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	@touch $@
$(TOOLS)/.protoc-gen-go-grpc-$(PROTOC_GEN_GO_GRPC_VERSION):
	@echo "deps: installing protoc-gen-go-grpc $(PROTOC_GEN_GO_GRPC_VERSION)"
	@GOBIN=$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	@touch $@
$(TOOLS)/.grpcurl-$(GRPCURL_VERSION):
	@echo "deps: installing grpcurl $(GRPCURL_VERSION)"
	@GOBIN=$(TOOLS) $(GO) install github.com/fullstorydev/grpcurl/cmd/grpcurl@$(GRPCURL_VERSION)
	@touch $@
$(TOOLS)/.buf-$(BUF_VERSION):
	@echo "deps: installing buf $(BUF_VERSION)"
	@GOBIN=$(TOOLS) $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
	@touch $@

## shim: build the C ABI shim over libtorch (build/libtaonet_torch.so);
## rebuilt only when its source changes. LIBTORCH=dir picks a libtorch.
SHIM     := build/libtaonet_torch.so
SHIM_SRC := $(wildcard distill/torch/shim/*.cc distill/torch/shim/*.h) scripts/build-torch-shim.sh
shim: $(SHIM)
$(SHIM): $(SHIM_SRC)
	bash scripts/build-torch-shim.sh $@

## build: bin/coordinator and bin/peer
build: shim
	$(GO) build -tags $(TAGS) -o bin/coordinator ./cmd/coordinator
	$(GO) build -tags $(TAGS) -o bin/peer ./cmd/peer

## test: install what is missing, check lint, run every test under the race
## detector, then fuzz
## the wire decoders briefly (FUZZTIME each, 5s by default)
test: deps lint shim
	$(GO) test -race -tags $(TAGS) -count=1 -skip '^TestAdversaries$$' ./...
	@# Six peers on 2 cores in 2 s rounds: alone, so that other packages'
	@# tests do not eat the teachers' answer deadlines.
	$(GO) test -race -tags $(TAGS) -count=1 -run '^TestAdversaries$$' ./peer/
	FUZZTIME=$${FUZZTIME:-5s} bash scripts/fuzz.sh

## lint: buf lint, generated code up to date, go vet and a gofmt check
lint: deps-tools
	buf lint
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; buf generate -o "$$tmp"; \
	if ! diff -r "$$tmp/proto/taonet/v1" proto/taonet/v1 -x '*.proto' -x '*_test.go' >/dev/null; then \
	  echo "generated code is stale: run make proto"; exit 1; fi
	$(GO) vet -tags $(TAGS) ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go') 2>/dev/null); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi

## proto: regenerate Go code from proto/ with the pinned plugins
proto: deps-tools
	buf generate

## demo: the main job: a whole network on loopback that learns and pays (a
## coordinator, six peers half mlp half cnn, five rounds), then the table of
## each peer's accuracy alone and after the rounds and the TAO it earned.
## `make demo ROUNDS=N PEERS=N` adjusts it; about five minutes on 2 cores.
demo: deps build
	ROUNDS="$(ROUNDS)" PEERS="$(PEERS)" bash scripts/demo.sh

## bench-ledger: settlement beside raw inserts (writes results/bench-ledger.json)
bench-ledger: deps-go
	bash scripts/bench-ledger.sh

## bench-rounds: coordinator round overhead at 10, 100 and 500 peers, memory
## after 200 rounds (writes results/bench-rounds.json; about half an hour)
bench-rounds: deps-go
	bash scripts/bench-rounds.sh

## bench-transport: streaming Forward beside a raw TLS 1.3 socket and unary
## calls, top-k bytes beside logits (writes results/bench-transport.json)
bench-transport: deps-go
	bash scripts/bench-transport.sh

## bench-flood: floods against a real coordinator process: accepted and
## refused, RSS and descriptors peak / idle, log bytes, a legitimate
## client's calls (writes results/bench-flood.json; about four minutes)
bench-flood: deps-go
	bash scripts/bench-flood.sh

## bench-torch: whole epochs and serving inference beside PyTorch eager, interleaved (writes results/bench-torch.json)
bench-torch: shim
	bash scripts/bench-torch.sh

## bench-quality: local-only, taonet, FedAvg and centralized training on the
## same Dirichlet splits of Fashion-MNIST, resumable (writes
## results/bench-quality.{json,md,svg}; about 45 minutes on 2 cores;
## QUICK=1 for a one-minute smoke run, DEVICE=cuda on a GPU)
bench-quality: deps-apt deps-go shim
	bash scripts/bench-quality.sh

## gpu-carry: fill .carry/ for scripts/gpu-check.sh on a GPU machine without Go
gpu-carry:
	bash scripts/gpu-carry-torch.sh

clean:
	rm -rf bin build
