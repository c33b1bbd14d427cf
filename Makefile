# shelflake build and test. `make test` is the one command that sets up a fresh
# machine (kcat and awscli from Debian, versitygw built from the Go module
# proxy) and runs every check. CI runs exactly this (.ci/run).

GO      ?= go
TAGS    := duckdb_arrow
BIN     := $(CURDIR)/bin
export SHELFLAKE_VERSITYGW := $(BIN)/versitygw
export GOFLAGS := -tags=$(TAGS)

.PHONY: test deps tools build lint fuzz bench

test: deps tools lint
	$(GO) test -timeout 25m ./...

build:
	$(GO) build -o $(BIN)/shelflake ./cmd/shelflake

# Debian packages the tests drive as independent clients.
deps:
	@missing=""; command -v kcat >/dev/null 2>&1 || missing="$$missing kcat"; command -v aws >/dev/null 2>&1 || missing="$$missing awscli"; \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi

# Test servers, built from the Go module proxy at the versions pinned in tools/go.mod.
tools: $(BIN)/versitygw

$(BIN)/versitygw: tools/go.mod tools/go.sum
	cd tools && $(GO) build -o $(BIN)/versitygw github.com/versity/versitygw/cmd/versitygw

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go') $$(git ls-files --others --exclude-standard '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Run every fuzz target for FUZZTIME each (default 10s).
FUZZTIME ?= 10s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
