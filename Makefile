# citypass — build, test and demo. `make demo` and `make test` install what is
# missing by themselves (Debian/Ubuntu: apt-get; elsewhere they say what to install).

GO       ?= go
BIN      := bin/citypass
PKGS     := ./...
RACE_PKGS := ./engine/... ./ledger/...
DEB_PKGS := gcc pkg-config libpcsclite-dev pcscd vsmartcard-vpcd libxml2-utils chromium

.PHONY: all deps build test demo bench fmt-check vet clean

all: build

# deps installs the system packages the build and the tests need, and nothing else.
deps:
	@./.ci/deps.sh $(DEB_PKGS)

build: deps
	$(GO) build -o $(BIN) ./cmd/citypass

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

test: deps fmt-check vet
	$(GO) test -race -timeout 12m $(RACE_PKGS)
	$(GO) test -timeout 12m $$($(GO) list ./... | grep -v -e '/engine' -e '/ledger')

demo: build
	./$(BIN) demo

bench: build
	./$(BIN) bench

clean:
	rm -rf bin
