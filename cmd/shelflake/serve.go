package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/queries"
	"github.com/shelflake/shelflake/queries/pgwire"
)

type serveFlags struct {
	lake           string
	listen         string
	users          string
	tlsCert        string
	tlsKey         string
	tlsMin         string
	allowPlaintext bool
	http           string
	refresh        time.Duration
	maxConns       int
	memoryLimit    string
	threads        int
	cacheDir       string
	tables         []string
	hashPassword   bool
	hosts          []string
}

func newServeCmd(a *app) *cobra.Command {
	var o serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the live lake read-only over the Postgres protocol (BI tools, psql, JDBC)",
		Long: `serve lets BI tools and Postgres clients query the lake: the same views as
shelflake sql (one per lake table over its live Delta snapshot, _tables,
_commits), read-only, over TLS with SCRAM-SHA-256 logins.

Users and roles come from --users (JSON, see the README's "Connecting BI
tools"); a role reads the tables it lists, less the columns it hides. Make a
user's secret with --hash-password. Without --tls-cert a self-signed
certificate is generated (clients then need sslmode=require, which does not
verify it): use a real certificate in production.

New lake versions are picked up every --refresh; a client reads the lake as
it was with SET shelflake.as_of = '2026-03-01T12:00:00Z' or
SET shelflake.version = N. Metrics and /healthz are served on --http.`,
		Example: `  echo -n 's3cret' | shelflake serve --hash-password
  shelflake serve --lake ./lake --users users.json --listen 0.0.0.0:5432 \
      --tls-cert server.crt --tls-key server.key
  psql "host=localhost port=5432 dbname=lake user=ana sslmode=require"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.hashPassword {
				return hashPassword(a, cmd.InOrStdin())
			}
			red := queries.NewRedactor(o.lake, os.Environ())
			return red.Error(runServe(cmd.Context(), a, o))
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.lake, "lake", envOr("SHELFLAKE_LAKE", ""), "lake URI: a directory, file:///path or s3://bucket/prefix?endpoint=… (env SHELFLAKE_LAKE)")
	f.StringVar(&o.listen, "listen", envOr("SHELFLAKE_SERVE_LISTEN", "127.0.0.1:5432"), "address for Postgres clients (env SHELFLAKE_SERVE_LISTEN)")
	f.StringVar(&o.users, "users", envOr("SHELFLAKE_SERVE_USERS", ""), "users and roles file, JSON (env SHELFLAKE_SERVE_USERS)")
	f.StringVar(&o.tlsCert, "tls-cert", envOr("SHELFLAKE_SERVE_TLS_CERT", ""), "TLS certificate, PEM (default: a generated self-signed one)")
	f.StringVar(&o.tlsKey, "tls-key", envOr("SHELFLAKE_SERVE_TLS_KEY", ""), "TLS private key, PEM")
	f.StringVar(&o.tlsMin, "tls-min-version", "1.3", "oldest TLS version accepted: 1.3 or 1.2")
	f.StringSliceVar(&o.hosts, "tls-hosts", []string{"localhost", "127.0.0.1"}, "names and addresses of the self-signed certificate")
	f.BoolVar(&o.allowPlaintext, "allow-plaintext", false, "also accept clients without TLS (passwords stay SCRAM, but data travels in clear)")
	f.StringVar(&o.http, "http", envOr("SHELFLAKE_SERVE_HTTP", "127.0.0.1:9466"), "address for /metrics and /healthz (empty: none; env SHELFLAKE_SERVE_HTTP)")
	f.DurationVar(&o.refresh, "refresh", 10*time.Second, "how often to look for new lake versions")
	f.IntVar(&o.maxConns, "max-conns", 64, "most client connections at once")
	f.StringVar(&o.memoryLimit, "duckdb-memory", envOr("SHELFLAKE_SQL_MEMORY_LIMIT", ""), "DuckDB memory limit per lake snapshot, e.g. 4GB")
	f.IntVar(&o.threads, "threads", 0, "DuckDB threads (default: every core)")
	f.StringVar(&o.cacheDir, "cache-dir", envOr("SHELFLAKE_CACHE_DIR", ""), "local copies of an S3 lake's files (default: a temporary directory)")
	f.StringSliceVar(&o.tables, "table", nil, "also look for these tables in the lake (comma-separated)")
	f.BoolVar(&o.hashPassword, "hash-password", false, "read a password from stdin and print its SCRAM-SHA-256 secret for --users, then exit")
	return cmd
}

// hashPassword reads one password (without echo on a terminal) and prints
// its secret.
func hashPassword(a *app, in io.Reader) error {
	var pw string
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(a.stderr, "password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.stderr)
		if err != nil {
			return fmt.Errorf("read password: %w", err)
		}
		pw = string(b)
	} else {
		line, err := bufio.NewReader(in).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read password from stdin: %w", err)
		}
		pw = strings.TrimRight(line, "\r\n")
	}
	if pw == "" {
		return errors.New("--hash-password: empty password on stdin")
	}
	s, err := pgwire.HashPassword(pw)
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, s)
	return nil
}

func runServe(ctx context.Context, a *app, o serveFlags) error {
	if o.lake == "" {
		return errors.New("--lake is required (or SHELFLAKE_LAKE)")
	}
	if o.users == "" {
		return errors.New("--users is required: a JSON file of users and roles (see shelflake serve --help)")
	}
	cfg, err := pgwire.LoadConfig(o.users)
	if err != nil {
		return err
	}
	var minTLS uint16
	switch o.tlsMin {
	case "1.3":
		minTLS = tls.VersionTLS13
	case "1.2":
		minTLS = tls.VersionTLS12
	default:
		return fmt.Errorf("--tls-min-version %q: want 1.3 or 1.2", o.tlsMin)
	}
	var tlsCfg *tls.Config
	switch {
	case o.tlsCert != "" || o.tlsKey != "":
		if o.tlsCert == "" || o.tlsKey == "" {
			return errors.New("--tls-cert and --tls-key go together")
		}
		if tlsCfg, err = pgwire.TLSConfig(o.tlsCert, o.tlsKey, minTLS); err != nil {
			return err
		}
	default:
		var fp string
		if tlsCfg, fp, err = pgwire.SelfSignedTLS(o.hosts, minTLS); err != nil {
			return fmt.Errorf("self-signed certificate: %w", err)
		}
		a.log.Warn("NO --tls-cert: serving a SELF-SIGNED certificate generated for this run; clients cannot verify it (use sslmode=require, never in production)",
			"hosts", strings.Join(o.hosts, ","), "sha256", fp)
	}
	cacheDir := o.cacheDir
	tmp, err := os.MkdirTemp("", "shelflake-serve-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if cacheDir == "" {
		cacheDir = filepath.Join(tmp, "cache")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	l, err := openLake(ctx, o.lake, lake.Options{Logger: a.log, Registerer: reg, CacheDir: cacheDir, ReadOnly: true})
	if err != nil {
		return err
	}
	defer l.Close()
	allowed := []string{cacheDir}
	if dirs, ok := localLakeDir(o.lake); ok {
		allowed = append(allowed, dirs...)
	}
	srv, err := pgwire.New(ctx, pgwire.Options{
		Lake:        l,
		Session:     queries.Options{MemoryLimit: o.memoryLimit, Threads: o.threads, Tables: o.tables, Logger: a.log},
		Config:      cfg,
		TLS:         tlsCfg,
		RequireTLS:  !o.allowPlaintext,
		AllowedDirs: allowed,
		TempDir:     tmp,
		Refresh:     o.refresh,
		MaxConns:    o.maxConns,
		Logger:      a.log,
		Registerer:  reg,
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", o.listen, err)
	}
	if o.http != "" {
		hln, err := net.Listen("tcp", o.http)
		if err != nil {
			ln.Close()
			return fmt.Errorf("--http %s: %w", o.http, err)
		}
		hs := &http.Server{Handler: srv.Handler(reg), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := hs.Serve(hln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.log.Error("http server", "err", err)
			}
		}()
		a.log.Info("serving metrics", "addr", hln.Addr().String())
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = hs.Shutdown(sctx)
		}()
	}
	a.log.Info("serving the lake over the Postgres protocol", "addr", ln.Addr().String(), "users", len(cfg.Users), "roles", len(cfg.Roles), "tls_required", !o.allowPlaintext)
	return srv.Serve(ctx, ln)
}

// localLakeDir returns the directory of a local lake URI, as given and
// with symbolic links resolved.
func localLakeDir(uri string) ([]string, bool) {
	if strings.Contains(uri, "://") {
		u, err := url.Parse(uri)
		if err != nil || u.Scheme != "file" {
			return nil, false
		}
		uri = u.Path
	}
	dir, err := filepath.Abs(uri)
	if err != nil {
		return nil, false
	}
	dirs := []string{dir}
	if real, err := filepath.EvalSymlinks(dir); err == nil && real != dir {
		dirs = append(dirs, real)
	}
	return dirs, true
}
