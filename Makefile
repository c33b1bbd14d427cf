# shelflake build and test. `make test` is the one command that sets up a fresh
# machine (kcat and awscli from Debian, versitygw built from the Go module
# proxy) and runs every check. CI runs exactly this (.ci/run).

GO      ?= go
TAGS    := duckdb_arrow
BIN     := $(CURDIR)/bin
export SHELFLAKE_VERSITYGW := $(BIN)/versitygw
# The peer `shelflake bench ingest --peer` compares against (tools/peer).
export SHELFLAKE_PEER := $(BIN)/benthos-peer
export GOFLAGS := -tags=$(TAGS)
# Test artifacts people look at (the report's screenshot in headless Chromium).
export SHELFLAKE_ARTIFACTS := $(CURDIR)/artifacts

.PHONY: test deps tools build lint fuzz bench deploy-test peer

test: deps tools lint deploy-test
	$(GO) test -timeout 25m ./...

build:
	$(GO) build -o $(BIN)/shelflake ./cmd/shelflake

# Debian packages the tests drive as independent clients.
deps:
	@missing=""; command -v kcat >/dev/null 2>&1 || missing="$$missing kcat"; command -v aws >/dev/null 2>&1 || missing="$$missing awscli"; command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; command -v npm >/dev/null 2>&1 || missing="$$missing nodejs npm"; \
	command -v psql >/dev/null 2>&1 || missing="$$missing postgresql-client"; /usr/bin/python3 -c 'import psycopg2' >/dev/null 2>&1 || missing="$$missing python3-psycopg2"; \
	[ -f /usr/share/java/postgresql.jar ] || missing="$$missing libpostgresql-jdbc-java"; command -v javac >/dev/null 2>&1 || missing="$$missing default-jdk-headless"; \
	/usr/bin/python3 -c 'import psycopg' >/dev/null 2>&1 || missing="$$missing python3-psycopg"; /usr/bin/python3 -c 'import pyodbc' >/dev/null 2>&1 || missing="$$missing python3-pyodbc"; \
	/usr/bin/python3 -c 'import sqlalchemy' >/dev/null 2>&1 || missing="$$missing python3-sqlalchemy"; command -v isql >/dev/null 2>&1 || missing="$$missing unixodbc"; [ -f /usr/lib/x86_64-linux-gnu/odbc/psqlodbcw.so ] || [ -f /usr/lib/aarch64-linux-gnu/odbc/psqlodbcw.so ] || missing="$$missing odbc-postgresql"; \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi

# Test servers, built from the Go module proxy at the versions pinned in tools/go.mod.
tools: $(BIN)/versitygw $(BIN)/benthos-peer

$(BIN)/versitygw: tools/go.mod tools/go.sum
	cd tools && $(GO) build -o $(BIN)/versitygw github.com/versity/versitygw/cmd/versitygw

# Benthos v4.27.0 with only the components bench ingest --peer runs, pinned in
# tools/peer/go.mod (the proxy does not list the module, so no go install).
# Its parquet-go uses go:linkname into the runtime: link with -checklinkname=0.
peer: $(BIN)/benthos-peer

$(BIN)/benthos-peer: tools/peer/go.mod tools/peer/go.sum tools/peer/main.go
	cd tools/peer && GOFLAGS= $(GO) build -ldflags=-checklinkname=0 -o $(BIN)/benthos-peer .

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

# Deployment files (deploy/): offline checks in their own module (deploy/validate).
# promtool comes from the Go module proxy at the version deploy/tools/go.mod pins,
# without the cloud service-discovery plugins (DNS kept: the compose Prometheus uses it).
PROMTOOL := $(BIN)/promtool
export SHELFLAKE_PROMTOOL := $(PROMTOOL)

deploy-test: $(PROMTOOL)
	cd deploy/validate && $(GO) vet ./... && $(GO) test -count=1 ./...

$(PROMTOOL): deploy/tools/go.mod deploy/tools/go.sum
	cd deploy/tools && GOFLAGS= $(GO) build -tags remove_all_sd,enable_dns_sd -o $(PROMTOOL) github.com/prometheus/prometheus/cmd/promtool
