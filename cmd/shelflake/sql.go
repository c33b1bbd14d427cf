package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/queries"
	"github.com/shelflake/shelflake/schema"
)

type sqlFlags struct {
	lake        string
	command     string
	file        string
	query       string
	params      []string
	list        bool
	format      string
	out         string
	versions    []string
	asOf        string
	from, to    string
	tables      []string
	memoryLimit string
	threads     int
	cacheDir    string
	history     string
	timer       bool
	maxWidth    int
}

func newSQLCmd(a *app) *cobra.Command {
	var o sqlFlags
	cmd := &cobra.Command{
		Use:   "sql",
		Short: "SQL over the live lake: DuckDB with a view per table, saved retail queries",
		Long: `sql opens DuckDB with one view per lake table (pos_lines, inventory_snapshots,
purchase_order_lines, item_locations, promotions, rejects, and the unified and
forecast tables once they exist), each over the files of its Delta snapshot, so
a compaction running meanwhile never shows a row twice. _tables and _commits
describe the versions read.

Run -c SQL, -f FILE, a saved query (--query NAME --param k=v; --list shows
them), or, without those, an interactive prompt: statements end with ";",
.help lists the commands (.tables, .schema, .timer, …), arrows recall
history, Tab completes table names, Ctrl-C cancels a running query.

--version and --as-of read the lake as it was (time travel).`,
		Example: `  shelflake sql --lake ./shelflake-demo/lake
  shelflake sql --lake ./lake -c "SELECT store_id, count(*) FROM pos_lines GROUP BY ALL"
  shelflake sql --lake ./lake --query sell_through --param days=28
  shelflake sql --lake ./lake --query days_of_cover --format parquet --out cover.parquet
  shelflake sql --lake ./lake --as-of 2026-03-01T12:00:00Z -c "SELECT * FROM _tables"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			red := queries.NewRedactor(o.lake, os.Environ())
			return red.Error(runSQL(cmd, a, o, red))
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.lake, "lake", envOr("SHELFLAKE_LAKE", ""), "lake URI: a directory, file:///path or s3://bucket/prefix?endpoint=… (env SHELFLAKE_LAKE)")
	f.StringVarP(&o.command, "command", "c", "", "run these SQL statements (and dot commands) and exit")
	f.StringVarP(&o.file, "file", "f", "", "run the SQL statements in FILE and exit")
	f.StringVar(&o.query, "query", "", "run the saved query NAME (see --list)")
	f.StringArrayVar(&o.params, "param", nil, "parameter of --query, NAME=VALUE (repeatable)")
	f.BoolVar(&o.list, "list", false, "list the saved queries and their parameters")
	f.StringVar(&o.format, "format", "table", "output format: table, csv, json, jsonl or parquet (parquet: with --out or a redirected stdout)")
	f.StringVarP(&o.out, "out", "o", "", "write results to FILE (replaced when complete) instead of stdout")
	f.StringArrayVar(&o.versions, "version", nil, "time travel: read every table at version N, or TABLE=N for one table (repeatable)")
	f.StringVar(&o.asOf, "as-of", "", "time travel: read each table as committed at this time (RFC 3339, or a date: the end of that day, UTC)")
	f.StringVar(&o.from, "from", "", "only dt partitions from this date (YYYY-MM-DD): fewer files to fetch")
	f.StringVar(&o.to, "to", "", "only dt partitions up to this date (YYYY-MM-DD)")
	f.StringSliceVar(&o.tables, "table", nil, "also look for these tables in the lake (comma-separated)")
	f.StringVar(&o.memoryLimit, "duckdb-memory", envOr("SHELFLAKE_SQL_MEMORY_LIMIT", ""), "DuckDB memory limit, e.g. 4GB (default DuckDB's: 80% of RAM); beyond it DuckDB spills to a temporary directory")
	f.IntVar(&o.threads, "threads", 0, "DuckDB threads (default: every core)")
	f.StringVar(&o.cacheDir, "cache-dir", envOr("SHELFLAKE_CACHE_DIR", ""), "keep local copies of an S3 lake's files here across runs (default: a temporary directory)")
	f.StringVar(&o.history, "history", defaultHistory(), "prompt history file (empty: none; env SHELFLAKE_SQL_HISTORY)")
	f.BoolVar(&o.timer, "timer", false, "print each statement's run time")
	f.IntVar(&o.maxWidth, "max-width", 60, "widest column of the table format, in characters")
	return cmd
}

func defaultHistory() string {
	if h, ok := os.LookupEnv("SHELFLAKE_SQL_HISTORY"); ok {
		return h
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".shelflake_sql_history")
	}
	return ""
}

func runSQL(cmd *cobra.Command, a *app, o sqlFlags, red *queries.Redactor) error {
	ctx := cmd.Context()
	if o.list {
		qs, err := queries.SavedQueries()
		if err != nil {
			return err
		}
		for i, q := range qs {
			if i > 0 {
				fmt.Fprintln(a.stdout)
			}
			fmt.Fprint(a.stdout, q.Usage())
		}
		return nil
	}
	if o.lake == "" {
		return errors.New("--lake is required (or SHELFLAKE_LAKE)")
	}
	format, err := queries.ParseFormat(o.format)
	if err != nil {
		return fmt.Errorf("--format: %w", err)
	}
	modes := 0
	for _, set := range []bool{o.command != "", o.file != "", o.query != ""} {
		if set {
			modes++
		}
	}
	if modes > 1 {
		return errors.New("-c, -f and --query go alone: give one of them")
	}
	if len(o.params) > 0 && o.query == "" {
		return errors.New("--param goes with --query")
	}
	if format == queries.FormatParquet && modes == 0 {
		return errors.New("--format parquet needs -c, -f or --query (the prompt writes text)")
	}
	if format == queries.FormatParquet && o.out == "" && isTerminal(a.stdout) {
		return errors.New("--format parquet writes a binary file: give --out FILE or redirect stdout")
	}
	opts, err := sessionOptions(o)
	if err != nil {
		return err
	}
	log := slog.New(red.Handler(a.log.Handler()))
	opts.Logger = log
	l, err := openLake(ctx, o.lake, lake.Options{Logger: log, CacheDir: o.cacheDir, ReadOnly: true})
	if err != nil {
		return err
	}
	defer l.Close()
	s, err := queries.Open(ctx, l, opts)
	if err != nil {
		return timeTravelError(o, l, err)
	}
	defer s.Close()
	for _, t := range s.Tables() {
		log.Debug("view", "table", t.Name, "version", t.Version, "files", t.Files)
	}

	if format == queries.FormatParquet {
		return writeOut(o.out, a.stdout, true, func(path string, _ io.Writer) error {
			return runCopy(ctx, s, o, path)
		})
	}
	wo := queries.WriterOptions{MaxWidth: o.maxWidth}
	if o.query != "" {
		q, err := queries.LookupSaved(o.query)
		if err != nil {
			return err
		}
		values, err := paramValues(o.params)
		if err != nil {
			return err
		}
		return writeOut(o.out, a.stdout, false, func(_ string, w io.Writer) error {
			rw, err := queries.NewWriter(w, format, wo)
			if err != nil {
				return err
			}
			st, err := s.RunSaved(ctx, rw, q, values)
			if err == nil && o.timer {
				fmt.Fprintf(a.stderr, "Run time: %.3fs\n", st.Elapsed.Seconds())
			}
			return err
		})
	}
	sh := &queries.Shell{Session: s, Err: a.stderr, Format: format, Writer: wo, Timer: o.timer}
	switch {
	case o.command != "":
		return writeOut(o.out, a.stdout, false, func(_ string, w io.Writer) error {
			sh.Out = w
			return sh.Run(ctx, queries.NewScriptReader(strings.NewReader(o.command)))
		})
	case o.file != "":
		f, err := os.Open(o.file)
		if err != nil {
			return err
		}
		defer f.Close()
		return writeOut(o.out, a.stdout, false, func(_ string, w io.Writer) error {
			sh.Out = w
			return sh.Run(ctx, queries.NewScriptReader(f))
		})
	}
	in := cmd.InOrStdin()
	if inF, ok := in.(*os.File); ok && term.IsTerminal(int(inF.Fd())) && o.out == "" && isTerminal(a.stdout) {
		return runTerminal(ctx, sh, inF, a.stdout.(*os.File), l.String(), o.history)
	}
	// Input from a pipe or file: a script, read as it comes.
	return writeOut(o.out, a.stdout, false, func(_ string, w io.Writer) error {
		sh.Out = w
		return sh.Run(ctx, queries.NewScriptReader(in))
	})
}

// sessionOptions turns the time travel and range flags into session options.
func sessionOptions(o sqlFlags) (queries.Options, error) {
	opts := queries.Options{Tables: o.tables, MemoryLimit: o.memoryLimit, Threads: o.threads}
	for _, v := range o.versions {
		name, num, ok := strings.Cut(v, "=")
		if !ok {
			name, num = queries.PinAll, v
		}
		n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
		if err != nil || n < 0 {
			return opts, fmt.Errorf("--version %q: want N or TABLE=N with N ≥ 0", v)
		}
		if opts.Versions == nil {
			opts.Versions = map[string]int64{}
		}
		opts.Versions[strings.TrimSpace(name)] = n
	}
	if o.asOf != "" {
		t, err := parseAsOf(o.asOf)
		if err != nil {
			return opts, err
		}
		opts.AsOf = t
	}
	for _, r := range []struct {
		flag, v string
		dst     **schema.Date
	}{{"--from", o.from, &opts.From}, {"--to", o.to, &opts.To}} {
		if r.v == "" {
			continue
		}
		d, err := schema.ParseDate(r.v)
		if err != nil {
			return opts, fmt.Errorf("%s %q: want YYYY-MM-DD", r.flag, r.v)
		}
		*r.dst = &d
	}
	return opts, nil
}

// timeTravelError words queries.Open's errors for a --version or --as-of
// out of the lake's range in terms of the flag given.
func timeTravelError(o sqlFlags, l *lake.Lake, err error) error {
	var ve *queries.VersionError
	var ae *queries.AsOfError
	switch {
	case errors.As(err, &ve):
		flag := fmt.Sprintf("--version %s=%d", ve.Table, ve.Version)
		if ve.All {
			flag = fmt.Sprintf("--version %d", ve.Version)
		}
		r := ve.Range
		return fmt.Errorf("%s: %s has versions %d..%d (%s..%s)", flag, ve.Table, r.Oldest, r.Latest,
			r.OldestTime.UTC().Format(time.RFC3339), r.LatestTime.UTC().Format(time.RFC3339))
	case errors.As(err, &ae):
		return fmt.Errorf("--as-of %s is before the lake's first commit (%s); %s",
			o.asOf, ae.First.UTC().Format(time.RFC3339), ae.Versions())
	}
	return fmt.Errorf("lake %s: %w", l, err)
}

// parseAsOf reads --as-of: RFC 3339, "YYYY-MM-DD HH:MM:SS" (UTC), or a
// date (the end of that day, UTC).
func parseAsOf(s string) (time.Time, error) {
	if t, ok := queries.ParseTime(s); ok {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--as-of %q: want an RFC 3339 time (2026-03-01T12:00:00Z) or a date", s)
}

func paramValues(params []string) (map[string]string, error) {
	values := map[string]string{}
	for _, p := range params {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--param %q: want NAME=VALUE", p)
		}
		if _, dup := values[k]; dup {
			return nil, fmt.Errorf("--param %s given twice", k)
		}
		values[k] = v
	}
	return values, nil
}

// runCopy writes the result of the saved query, or of the last statement of
// -c or -f (after running the ones before it), to path as Parquet.
func runCopy(ctx context.Context, s *queries.Session, o sqlFlags, path string) error {
	if o.query != "" {
		q, err := queries.LookupSaved(o.query)
		if err != nil {
			return err
		}
		values, err := paramValues(o.params)
		if err != nil {
			return err
		}
		_, err = s.CopySaved(ctx, path, queries.FormatParquet, q, values)
		return err
	}
	script := o.command
	if o.file != "" {
		b, err := os.ReadFile(o.file)
		if err != nil {
			return err
		}
		script = string(b)
	}
	stmts := queries.ScriptStatements(script)
	if len(stmts) == 0 {
		return errors.New("no SQL statement to write as parquet")
	}
	discard, err := queries.NewWriter(io.Discard, queries.FormatCSV, queries.WriterOptions{})
	if err != nil {
		return err
	}
	for i, stmt := range stmts[:len(stmts)-1] {
		if _, err := s.Query(ctx, discard, stmt); err != nil {
			return fmt.Errorf("statement %d: %w", i+1, err)
		}
	}
	_, err = s.CopyTo(ctx, path, queries.FormatParquet, stmts[len(stmts)-1])
	return err
}

// writeOut runs write with the destination: stdout, or a temporary file
// beside out that replaces out (fsynced) only when write succeeds. With
// needPath, write gets a file path (DuckDB writes it) instead of a writer;
// for stdout that is a temporary file copied to stdout afterwards.
func writeOut(out string, stdout io.Writer, needPath bool, write func(path string, w io.Writer) error) error {
	if out == "" && !needPath {
		return write("", stdout)
	}
	dir, pattern := os.TempDir(), "shelflake-sql-*"
	if out != "" {
		dir, pattern = filepath.Dir(out), "."+filepath.Base(out)+".tmp-*"
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return fmt.Errorf("--out %s: no directory %s: create it first", out, dir)
		}
	}
	tmp, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	name := tmp.Name()
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(name)
		}
	}()
	var w io.Writer = tmp
	if needPath {
		if err := tmp.Close(); err != nil {
			return err
		}
		w = nil
	}
	if err := write(name, w); err != nil {
		return err
	}
	if needPath {
		if tmp, err = os.OpenFile(name, os.O_RDWR, 0); err != nil {
			return err
		}
	}
	if out == "" { // parquet to a redirected stdout
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return err
		}
		_, err := io.Copy(stdout, tmp)
		return err
	}
	// CreateTemp makes the file 0600; an output file is an ordinary one.
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("--out %s: %w", out, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("--out %s: %w", out, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("--out %s: %w", out, err)
	}
	if err := os.Rename(name, out); err != nil {
		return fmt.Errorf("--out %s: %w", out, err)
	}
	done = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// runTerminal runs the shell on an interactive terminal: raw mode with line
// editing (x/term), history kept in historyPath, Tab completion, and Ctrl-C
// cancelling the running query (or the line being typed).
func runTerminal(ctx context.Context, sh *queries.Shell, in, out *os.File, lakeName, historyPath string) error {
	fd := int(in.Fd())
	state, err := term.MakeRaw(fd)
	if err != nil {
		return fmt.Errorf("terminal: %w", err)
	}
	defer term.Restore(fd, state)
	pump := newKeyPump(in)
	t := term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{pump, out}, queries.PromptFirst)
	if w, h, err := term.GetSize(int(out.Fd())); err == nil && w > 0 && h > 0 {
		_ = t.SetSize(w, h)
	}
	hist := &fileHistory{path: historyPath, max: 1000}
	hist.load()
	t.History = hist
	var lastTab struct {
		line string
		pos  int
		ok   bool
	}
	t.AutoCompleteCallback = func(line string, pos int, key rune) (string, int, bool) {
		if key != '\t' {
			lastTab.ok = false
			return "", 0, false
		}
		if nl, np, ok := sh.Complete(line, pos); ok {
			lastTab.ok = false
			return nl, np, true
		}
		// A second Tab with nothing to add lists the candidates above the
		// prompt (the editor redraws the line after them).
		if lastTab.ok && lastTab.line == line && lastTab.pos == pos {
			lastTab.ok = false
			if c := sh.Candidates(line, pos); len(c) > 1 {
				fmt.Fprintln(t, strings.Join(c, "  "))
			}
			return "", 0, false
		}
		lastTab.line, lastTab.pos, lastTab.ok = line, pos, true
		return "", 0, false
	}
	sh.Out, sh.Err, sh.Interactive = t, t, true
	sh.Interrupt = pump.during
	fmt.Fprint(t, sh.Banner(lakeName))
	return sh.Run(ctx, &termReader{t: t, pump: pump, out: out})
}

// termReader reads lines from the terminal and tells Ctrl-C apart from
// Ctrl-D (x/term returns io.EOF for both).
type termReader struct {
	t    *term.Terminal
	pump *keyPump
	out  io.Writer // the terminal itself, under the line editor
}

func (r *termReader) ReadLine(prompt string) (string, error) {
	r.t.SetPrompt(prompt)
	r.pump.sawInterrupt()
	line, err := r.t.ReadLine()
	if err == nil && r.pump.sawInterrupt() {
		return "", queries.ErrInterrupted
	}
	if errors.Is(err, io.EOF) {
		// Ctrl-D: leave the prompt's line, as Enter would (the editor
		// would redraw its prompt after anything written through it).
		_, _ = io.WriteString(r.out, "\r\n")
	}
	return line, err
}

// keyPump owns the terminal's input: one goroutine reads it and hands the
// bytes to the line editor, except that a Ctrl-C typed while a query runs
// cancels the query instead. At the prompt a Ctrl-C ends the line (as
// Enter would, so that the editor starts the next one afresh) and the
// reader reports ErrInterrupted: the shell drops the statement typed so
// far.
type keyPump struct {
	ch      chan []byte
	pending []byte

	mu        sync.Mutex
	cancel    context.CancelFunc // of the running query
	interrupt bool               // a Ctrl-C ended a line at the prompt
	err       error
}

const ctrlC = 3

func newKeyPump(r io.Reader) *keyPump {
	p := &keyPump{ch: make(chan []byte, 64)}
	go func() {
		defer close(p.ch)
		for {
			buf := make([]byte, 256)
			n, err := r.Read(buf)
			chunk := buf[:n]
			p.mu.Lock()
			if bytes.IndexByte(chunk, ctrlC) >= 0 {
				if p.cancel != nil {
					p.cancel()
					chunk = bytes.ReplaceAll(chunk, []byte{ctrlC}, nil)
				} else {
					p.interrupt = true
					chunk = bytes.ReplaceAll(chunk, []byte{ctrlC}, []byte{'\r'})
				}
			}
			if err != nil {
				p.err = err
			}
			p.mu.Unlock()
			if len(chunk) > 0 {
				p.ch <- chunk
			}
			if err != nil {
				return
			}
		}
	}()
	return p
}

func (p *keyPump) Read(b []byte) (int, error) {
	if len(p.pending) == 0 {
		chunk, ok := <-p.ch
		if !ok {
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.err == nil {
				return 0, io.EOF
			}
			return 0, p.err
		}
		p.pending = chunk
	}
	n := copy(b, p.pending)
	p.pending = p.pending[n:]
	return n, nil
}

// during routes Ctrl-C to cancel while a query runs (the Shell.Interrupt
// hook).
func (p *keyPump) during(cancel context.CancelFunc) func() {
	p.mu.Lock()
	p.cancel = cancel
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		p.cancel = nil
		p.mu.Unlock()
	}
}

// sawInterrupt reports and clears whether a Ctrl-C ended a line.
func (p *keyPump) sawInterrupt() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := p.interrupt
	p.interrupt = false
	return i
}

// fileHistory is the prompt's history (term.History), newest first, kept
// in a file one entry per line so that it survives the session.
type fileHistory struct {
	path    string
	max     int
	entries []string // oldest first
}

func (h *fileHistory) load() {
	if h.path == "" {
		return
	}
	f, err := os.Open(h.path)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if line := sc.Text(); line != "" {
			h.entries = append(h.entries, line)
		}
	}
	if len(h.entries) > h.max {
		h.entries = slices.Clone(h.entries[len(h.entries)-h.max:])
	}
}

// Add records a line; empty lines and repeats of the last one are skipped.
func (h *fileHistory) Add(entry string) {
	if strings.TrimSpace(entry) == "" || len(h.entries) > 0 && h.entries[len(h.entries)-1] == entry {
		return
	}
	h.entries = append(h.entries, entry)
	if len(h.entries) > h.max {
		h.entries = h.entries[1:]
	}
	if h.path == "" {
		return
	}
	f, err := os.OpenFile(h.path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return
	}
	fmt.Fprintln(f, entry)
	f.Close()
}

// Len returns the number of entries.
func (h *fileHistory) Len() int { return len(h.entries) }

// At returns the entry idx places back (0: the newest).
func (h *fileHistory) At(idx int) string { return h.entries[len(h.entries)-1-idx] }
