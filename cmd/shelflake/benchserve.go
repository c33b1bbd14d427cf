package main

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"runtime/pprof"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/queries"
	"github.com/shelflake/shelflake/queries/pgwire"
)

// benchServeResult is what bench serve reports.
type benchServeResult struct {
	Sessions int      `json:"sessions"`
	Queries  []string `json:"queries"`
	Runs     int      `json:"runs"`
	// P50 and P90 are per-statement latencies, in seconds, in process
	// (DuckDB connections of one session) and through shelflake serve (TLS,
	// SCRAM, the guard, the wire protocol; pgx clients in this process).
	InProcessP50 float64 `json:"in_process_p50_seconds"`
	InProcessP90 float64 `json:"in_process_p90_seconds"`
	ServeP50     float64 `json:"serve_p50_seconds"`
	ServeP90     float64 `json:"serve_p90_seconds"`
	// RatioP50 is ServeP50 / InProcessP50.
	RatioP50 float64 `json:"ratio_p50"`
	// MemoryLimit and Threads are the DuckDB settings both sides ran
	// with ("" and 0: DuckDB's defaults, 80% of RAM and every core).
	MemoryLimit string `json:"duckdb_memory_limit"`
	Threads     int    `json:"duckdb_threads"`
	// MaxRSS is the process's peak resident memory, in bytes (both sides
	// and the clients).
	MaxRSS int64 `json:"max_rss_bytes"`
}

func newBenchServeCmd(a *app) *cobra.Command {
	var (
		lakeURI  string
		sessions int
		runs     int
		asJSON   bool
		cpuProf  string
		duck     queries.Options
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "The saved queries through shelflake serve vs in process, concurrently, in one run",
		Long: `bench serve runs every saved query that takes no required parameter (and whose
tables the lake has) from --sessions concurrent sessions, --runs times each,
first on DuckDB connections in this process, then through an in-process
shelflake serve over TLS with pgx clients, and reports both latency
distributions and the ratio of their medians.

Like with like: both sides run the same statements with the same parameters,
from the same number of concurrent sessions, each on one DuckDB database of
the same lake snapshot opened with the same settings (--duckdb-memory,
--threads), and each side first runs every query once, unmeasured, so that
neither pays alone for cold file and Parquet metadata caches. The serve
side's time includes what a client pays: TLS, the wire protocol, the guard,
and the pgx clients decoding the rows (in this process, on the same cores).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if lakeURI == "" {
				return errors.New("--lake is required (shelflake demo makes one)")
			}
			res, err := benchServe(cmd.Context(), a, lakeURI, sessions, runs, duck, cpuProf)
			if err != nil {
				return fmt.Errorf("bench serve: %w", err)
			}
			if asJSON {
				return writeJSON(a.stdout, res)
			}
			fmt.Fprintf(a.stdout, "queries             %d (%d sessions, %d runs each)\n", len(res.Queries), res.Sessions, res.Runs)
			fmt.Fprintf(a.stdout, "in process  p50     %.4fs  p90 %.4fs\n", res.InProcessP50, res.InProcessP90)
			fmt.Fprintf(a.stdout, "serve       p50     %.4fs  p90 %.4fs\n", res.ServeP50, res.ServeP90)
			fmt.Fprintf(a.stdout, "ratio p50           %.2fx\n", res.RatioP50)
			fmt.Fprintf(a.stdout, "peak RSS            %d MiB\n", res.MaxRSS>>20)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&lakeURI, "lake", envOr("SHELFLAKE_LAKE", ""), "lake URI (env SHELFLAKE_LAKE)")
	f.IntVar(&sessions, "sessions", 32, "concurrent sessions")
	f.IntVar(&runs, "runs", 3, "runs of each query per session")
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	f.StringVar(&duck.MemoryLimit, "duckdb-memory", "", "DuckDB memory limit of each side, e.g. 4GB (default DuckDB's)")
	f.IntVar(&duck.Threads, "threads", 0, "DuckDB threads of each side (default: every core)")
	f.StringVar(&cpuProf, "cpuprofile", "", "write a Go CPU profile of the phase through serve to this file")
	return cmd
}

var savedParamRE = regexp.MustCompile(`\$([a-z_][a-z0-9_]*)`)

// benchQuery is a saved query with positional parameters ($1, …) and
// their default values.
type benchQuery struct {
	name string
	sql  string
	args []any
}

func benchQueries(sess *queries.Session) ([]benchQuery, error) {
	all, err := queries.SavedQueries()
	if err != nil {
		return nil, err
	}
	var out []benchQuery
next:
	for _, q := range all {
		for _, r := range q.Requires {
			if t, ok := sess.Table(r); !ok || !t.Present {
				continue next
			}
		}
		named, err := q.Args(nil)
		if err != nil {
			continue // a required parameter
		}
		pos := map[string]int{}
		args := make([]any, len(q.Params))
		for i, p := range q.Params {
			pos[p.Name] = i + 1
			args[i] = benchArg(named[i])
		}
		text := savedParamRE.ReplaceAllStringFunc(q.SQL, func(m string) string {
			if i, ok := pos[m[1:]]; ok {
				return "$" + strconv.Itoa(i)
			}
			return m
		})
		out = append(out, benchQuery{name: q.Name, sql: text, args: args})
	}
	if len(out) == 0 {
		return nil, errors.New("no saved query runs on this lake without parameters")
	}
	return out, nil
}

// benchArg unwraps a sql.Named value into a plain value both DuckDB and
// pgx bind (int64, float64, string, bool, time.Time or nil).
func benchArg(v any) any {
	if na, ok := v.(sql.NamedArg); ok {
		return na.Value
	}
	return v
}

func benchServe(ctx context.Context, a *app, lakeURI string, sessions, runs int, duck queries.Options, cpuProf string) (*benchServeResult, error) {
	if sessions < 1 || runs < 1 {
		return nil, errors.New("--sessions and --runs: want ≥ 1")
	}
	tmp, err := os.MkdirTemp("", "shelflake-bench-serve-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	l, err := openLake(ctx, lakeURI, lake.Options{Logger: a.log, ReadOnly: true, CacheDir: tmp + "/cache"})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	sess, err := queries.Open(ctx, l, queries.Options{Logger: a.log, MemoryLimit: duck.MemoryLimit, Threads: duck.Threads})
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	qs, err := benchQueries(sess)
	if err != nil {
		return nil, err
	}
	res := &benchServeResult{Sessions: sessions, Runs: runs, MemoryLimit: duck.MemoryLimit, Threads: duck.Threads}
	for _, q := range qs {
		res.Queries = append(res.Queries, q.name)
	}
	// In process: one DuckDB connection per session.
	inProcOpen := func(ctx context.Context) (func(context.Context, benchQuery) error, func(), error) {
		c, err := sess.DB().Conn(ctx)
		if err != nil {
			return nil, nil, err
		}
		return func(ctx context.Context, q benchQuery) error {
			rows, err := c.QueryContext(ctx, q.sql, q.args...)
			if err != nil {
				return err
			}
			for rows.Next() {
			}
			rows.Close()
			return rows.Err()
		}, func() { c.Close() }, nil
	}
	if _, err := benchSessions(ctx, 1, 1, qs, inProcOpen); err != nil { // warm-up
		return nil, fmt.Errorf("in process: %w", err)
	}
	inProc, err := benchSessions(ctx, sessions, runs, qs, inProcOpen)
	if err != nil {
		return nil, fmt.Errorf("in process: %w", err)
	}
	// Through shelflake serve.
	password := "bench-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	secret, err := pgwire.HashPassword(password)
	if err != nil {
		return nil, err
	}
	cfg, err := pgwire.ParseConfig(fmt.Appendf(nil, `{"roles": {"bench": {"tables": ["*"]}}, "users": {"bench": {"role": "bench", "scram": %q}}}`, secret))
	if err != nil {
		return nil, err
	}
	tlsCfg, _, err := pgwire.SelfSignedTLS([]string{"127.0.0.1"}, tls.VersionTLS13)
	if err != nil {
		return nil, err
	}
	allowed := []string{tmp + "/cache"}
	if dirs, ok := localLakeDir(lakeURI); ok {
		allowed = append(allowed, dirs...)
	}
	srv, err := pgwire.New(ctx, pgwire.Options{Lake: l, Config: cfg, TLS: tlsCfg, RequireTLS: true, AllowedDirs: allowed,
		Session: queries.Options{MemoryLimit: duck.MemoryLimit, Threads: duck.Threads},
		TempDir: tmp, Refresh: time.Hour, MaxConns: sessions + 4, Logger: a.log})
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx, ln) }()
	defer func() { stop(); <-served }()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	dsn := fmt.Sprintf("host=%s port=%s user=bench password=%s dbname=lake sslmode=require connect_timeout=30", host, port, password)
	serveOpen := func(ctx context.Context) (func(context.Context, benchQuery) error, func(), error) {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return nil, nil, err
		}
		return func(ctx context.Context, q benchQuery) error {
			rows, err := c.Query(ctx, q.sql, q.args...)
			if err != nil {
				return err
			}
			for rows.Next() {
			}
			rows.Close()
			return rows.Err()
		}, func() { c.Close(context.Background()) }, nil
	}
	if _, err := benchSessions(ctx, 1, 1, qs, serveOpen); err != nil { // warm-up
		return nil, fmt.Errorf("through serve: %w", err)
	}
	if cpuProf != "" {
		f, err := os.Create(cpuProf)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile()
	}
	viaServe, err := benchSessions(ctx, sessions, runs, qs, serveOpen)
	if err != nil {
		return nil, fmt.Errorf("through serve: %w", err)
	}
	res.InProcessP50, res.InProcessP90 = quantile(inProc, 0.5), quantile(inProc, 0.9)
	res.ServeP50, res.ServeP90 = quantile(viaServe, 0.5), quantile(viaServe, 0.9)
	if res.InProcessP50 > 0 {
		res.RatioP50 = res.ServeP50 / res.InProcessP50
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		res.MaxRSS = int64(ru.Maxrss) * 1024 // kilobytes on Linux
	}
	return res, nil
}

// benchSessions runs every query runs times from each of n concurrent
// sessions and returns the latencies in seconds.
func benchSessions(ctx context.Context, n, runs int, qs []benchQuery,
	open func(context.Context) (func(context.Context, benchQuery) error, func(), error)) ([]float64, error) {
	lat := make([][]float64, n)
	g, gctx := errgroup.WithContext(ctx)
	for i := range n {
		g.Go(func() error {
			run, closeFn, err := open(gctx)
			if err != nil {
				return err
			}
			defer closeFn()
			for r := range runs {
				for j := range qs {
					q := qs[(i+j+r)%len(qs)] // sessions start at different queries
					start := time.Now()
					if err := run(gctx, q); err != nil {
						return fmt.Errorf("%s: %w", q.name, err)
					}
					lat[i] = append(lat[i], time.Since(start).Seconds())
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var all []float64
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	return all, nil
}

// quantile of sorted values (nearest rank).
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
