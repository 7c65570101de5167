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

# The commit `citypass version` prints: Go stamps it itself only in a clone
# whose .git is a directory (not in a git worktree) and with -buildvcs on, so
# the build also passes it to the linker, read with git (empty without one).
GIT_COMMIT := $(shell git rev-parse HEAD 2>/dev/null)
GIT_TIME   := $(shell TZ=UTC git log -1 --date=format-local:%Y-%m-%dT%H:%M:%SZ --format=%cd 2>/dev/null)
GIT_DIRTY  := $(shell test -n "$$(git status --porcelain 2>/dev/null)" && echo true)
VERSION_LDFLAGS := -X main.buildCommit=$(GIT_COMMIT) -X main.buildTime=$(GIT_TIME) -X main.buildDirty=$(GIT_DIRTY)

build: deps
	$(GO) build -buildvcs=auto -ldflags "$(VERSION_LDFLAGS)" -o $(BIN) ./cmd/citypass

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
