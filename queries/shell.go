package queries

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// LineReader reads a shell's input a line at a time.
type LineReader interface {
	// ReadLine shows prompt when the input is interactive and returns the
	// next line without its line ending: io.EOF at the end of the input,
	// ErrInterrupted when the user abandoned the line (Ctrl-C).
	ReadLine(prompt string) (string, error)
}

// ErrInterrupted is returned by a LineReader when the user pressed Ctrl-C
// at the prompt; the shell drops the statement typed so far.
var ErrInterrupted = errors.New("interrupted")

// NewScriptReader returns a LineReader over a script (a file, a pipe, a
// string): no prompts, lines of any length.
func NewScriptReader(r io.Reader) LineReader {
	return &scriptReader{r: bufio.NewReader(r)}
}

type scriptReader struct{ r *bufio.Reader }

func (s *scriptReader) ReadLine(string) (string, error) {
	line, err := s.r.ReadString('\n')
	if err == io.EOF && line != "" {
		err = nil
	}
	return strings.TrimRight(line, "\r\n"), err
}

// Prompts of the shell.
const (
	PromptFirst = "sql> "
	PromptMore  = "  -> "
)

// Shell runs SQL statements (ended by ";", over as many lines as they
// take) and dot commands (.help lists them) read from a LineReader against
// a Session.
type Shell struct {
	Session *Session
	// Out receives results; Err errors, timings and notices.
	Out, Err io.Writer
	// Format of results (not parquet); .format changes it.
	Format Format
	Writer WriterOptions
	// Timer prints each statement's run time to Err; .timer changes it.
	Timer bool
	// Interactive: an error is reported and the shell carries on. A script
	// (not interactive) stops at its first error, which Run returns.
	Interactive bool
	// Interrupt, when set, is given the cancel function of each
	// statement's context while the statement runs and returns a function
	// to call when it ends; `shelflake sql` cancels the query on Ctrl-C.
	Interrupt func(cancel context.CancelFunc) (stop func())

	w    ResultWriter
	wFor Format
}

// errQuit ends Run without error.
var errQuit = errors.New("quit")

// Run reads and runs statements and commands until the input ends or
// .quit. At the end of the input, a last statement without its semicolon
// runs too.
func (sh *Shell) Run(ctx context.Context, in LineReader) error {
	if sh.Format == "" {
		sh.Format = FormatTable
	}
	if sh.Format == FormatParquet {
		return errors.New("the shell writes table, csv, json or jsonl; write parquet with --out")
	}
	var buf strings.Builder
	line, stmtLine := 0, 0
	for {
		prompt := PromptFirst
		if buf.Len() > 0 {
			prompt = PromptMore
		}
		text, err := in.ReadLine(prompt)
		switch {
		case errors.Is(err, ErrInterrupted):
			buf.Reset()
			continue
		case errors.Is(err, io.EOF):
			if rest := strings.TrimSpace(buf.String()); !onlyComments(rest) {
				if err := sh.statement(ctx, rest, stmtLine); err != nil {
					return err
				}
			}
			return nil
		case err != nil:
			return fmt.Errorf("read input: %w", err)
		}
		line++
		if buf.Len() == 0 {
			t := strings.TrimSpace(text)
			if t == "" {
				continue
			}
			if strings.HasPrefix(t, ".") {
				if quit, err := sh.dot(ctx, t, line); quit || err != nil {
					return err
				}
				continue
			}
			if isQuitWord(t) {
				return nil
			}
			stmtLine = line
		}
		buf.WriteString(text)
		buf.WriteByte('\n')
		stmts, rest := SplitStatements(buf.String())
		for _, stmt := range stmts {
			if err := sh.statement(ctx, stmt, stmtLine); err != nil {
				return err
			}
		}
		if len(stmts) > 0 {
			buf.Reset()
			if t := strings.TrimSpace(rest); strings.HasPrefix(t, ".") && !strings.Contains(t, "\n") {
				// "SELECT 1; .tables": a command after the statement
				if quit, err := sh.dot(ctx, t, line); quit || err != nil {
					return err
				}
				continue
			}
			if !onlyComments(strings.TrimSpace(rest)) {
				buf.WriteString(strings.TrimLeft(rest, " \t\r\n"))
				stmtLine = line
			}
		}
	}
}

// dot runs a dot command: quit is true for .quit; an error is returned
// only when it ends a script (in the interactive shell it is reported).
func (sh *Shell) dot(ctx context.Context, cmd string, line int) (quit bool, err error) {
	err = sh.command(ctx, cmd)
	switch {
	case errors.Is(err, errQuit):
		return true, nil
	case err == nil:
		return false, nil
	case !sh.Interactive:
		return false, fmt.Errorf("line %d: %s: %w", line, cmd, err)
	}
	fmt.Fprintf(sh.Err, "Error: %v\n", err)
	return false, nil
}

// statement runs one statement; in a script an error ends the run.
func (sh *Shell) statement(ctx context.Context, stmt string, line int) error {
	st, err := sh.query(ctx, func(ctx context.Context, w ResultWriter) (Stats, error) {
		return sh.Session.Query(ctx, w, stmt)
	})
	if err != nil {
		if !sh.Interactive {
			return fmt.Errorf("statement at line %d: %w", line, err)
		}
		fmt.Fprintf(sh.Err, "Error: %v\n", err)
		return nil
	}
	if sh.Timer {
		fmt.Fprintf(sh.Err, "Run time: %s\n", formatDuration(st.Elapsed))
	}
	return nil
}

// query runs fn with the current writer, under a context the Interrupt
// hook can cancel.
func (sh *Shell) query(ctx context.Context, fn func(context.Context, ResultWriter) (Stats, error)) (Stats, error) {
	w, err := sh.writer()
	if err != nil {
		return Stats{}, err
	}
	qctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if sh.Interrupt != nil {
		stop := sh.Interrupt(cancel)
		defer stop()
	}
	st, err := fn(qctx, w)
	if err != nil && qctx.Err() != nil && ctx.Err() == nil {
		// One line: the driver's error joins the context's with DuckDB's
		// own "INTERRUPT Error: Interrupted!", which says nothing more.
		err = fmt.Errorf("query cancelled: %w", context.Canceled)
	}
	return st, err
}

func (sh *Shell) writer() (ResultWriter, error) {
	if sh.w == nil || sh.wFor != sh.Format {
		w, err := NewWriter(sh.Out, sh.Format, sh.Writer)
		if err != nil {
			return nil, err
		}
		sh.w, sh.wFor = w, sh.Format
	}
	return sh.w, nil
}

// shellHelp lists the dot commands.
const shellHelp = `Statements end with ";" and may span lines. Commands:
  .tables                 the lake's tables and their versions, and tables you made
  .schema [TABLE]         columns of a table (all lake tables without TABLE)
  .timer on|off           print each statement's run time
  .format FORMAT          results as table, csv, json or jsonl (also .mode)
  .refresh                move views to the tables' latest versions
  .queries                list the saved queries
  .run NAME [k=v ...]     run a saved query with parameters
  .help                   this text
  .quit                   leave (also .exit, or Ctrl-D)
`

// command runs a dot command.
func (sh *Shell) command(ctx context.Context, line string) error {
	fields := strings.Fields(line)
	name, args := fields[0], fields[1:]
	switch name {
	case ".quit", ".exit", ".q":
		return errQuit
	case ".help", ".h":
		_, err := io.WriteString(sh.Out, shellHelp)
		return err
	case ".timer":
		if len(args) != 1 || args[0] != "on" && args[0] != "off" {
			return errors.New("usage: .timer on|off")
		}
		sh.Timer = args[0] == "on"
		return nil
	case ".format", ".mode":
		if len(args) != 1 {
			return errors.New("usage: .format table|csv|json|jsonl")
		}
		f, err := ParseFormat(args[0])
		if err != nil {
			return err
		}
		if f == FormatParquet {
			return errors.New("the shell cannot stream parquet; use shelflake sql --format parquet --out FILE")
		}
		sh.Format = f
		return nil
	case ".tables":
		if len(args) != 0 {
			return errors.New("usage: .tables")
		}
		return sh.tables(ctx)
	case ".schema":
		if len(args) > 1 {
			return errors.New("usage: .schema [TABLE]")
		}
		return sh.schema(ctx, args)
	case ".refresh":
		if err := sh.Session.Refresh(ctx); err != nil {
			return err
		}
		fmt.Fprintln(sh.Err, "views refreshed")
		return nil
	case ".queries":
		qs, err := SavedQueries()
		if err != nil {
			return err
		}
		for _, q := range qs {
			if _, err := io.WriteString(sh.Out, q.Usage()); err != nil {
				return err
			}
		}
		return nil
	case ".run":
		if len(args) == 0 {
			return errors.New("usage: .run NAME [param=value ...]")
		}
		q, err := LookupSaved(args[0])
		if err != nil {
			return err
		}
		values := map[string]string{}
		for _, a := range args[1:] {
			k, v, ok := strings.Cut(a, "=")
			if !ok {
				return fmt.Errorf("%q: want param=value", a)
			}
			values[k] = v
		}
		st, err := sh.query(ctx, func(ctx context.Context, w ResultWriter) (Stats, error) {
			return sh.Session.RunSaved(ctx, w, q, values)
		})
		if err == nil && sh.Timer {
			fmt.Fprintf(sh.Err, "Run time: %s\n", formatDuration(st.Elapsed))
		}
		return err
	}
	return fmt.Errorf("unknown command %s (.help lists them)", name)
}

// tables lists the lake's views and the tables and views made in the
// session.
func (sh *Shell) tables(ctx context.Context) error {
	w, err := sh.writer()
	if err != nil {
		return err
	}
	if err := w.Begin([]ResultColumn{
		{Name: "name", Type: "VARCHAR"}, {Name: "kind", Type: "VARCHAR"}, {Name: "version", Type: "BIGINT"},
		{Name: "files", Type: "BIGINT"}, {Name: "rows", Type: "BIGINT"}, {Name: "committed", Type: "TIMESTAMPTZ"},
	}); err != nil {
		return err
	}
	lakeNames := map[string]bool{"_tables": true, "_commits": true}
	for _, t := range sh.Session.Tables() {
		lakeNames[t.Name] = true
		kind := "lake"
		if !t.Present {
			kind = "lake (absent)"
		} else if !t.Latest {
			kind = "lake (time travel)"
		}
		row := []any{t.Name, kind, nil, nil, nil, nil}
		if t.Present {
			row[2], row[3] = t.Version, int64(t.Files)
			if t.Records >= 0 {
				row[4] = t.Records
			}
			if !t.CommitTime.IsZero() {
				row[5] = t.CommitTime
			}
		}
		if err := w.Row(row); err != nil {
			return err
		}
	}
	for _, meta := range []string{"_tables", "_commits"} {
		if err := w.Row([]any{meta, "lake metadata", nil, nil, nil, nil}); err != nil {
			return err
		}
	}
	rows, err := sh.Session.Conn().QueryContext(ctx, `
SELECT table_name, 'table' FROM duckdb_tables() WHERE NOT internal AND NOT temporary AND schema_name = 'main' AND database_name = current_database()
UNION ALL SELECT table_name, 'temporary table' FROM duckdb_tables() WHERE temporary
UNION ALL SELECT view_name, 'view' FROM duckdb_views() WHERE NOT internal AND schema_name = 'main' AND database_name = current_database()
UNION ALL SELECT view_name, 'temporary view' FROM duckdb_views() WHERE temporary AND NOT internal
ORDER BY 1`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var name, kind string
		if err := rows.Scan(&name, &kind); err != nil {
			return err
		}
		if lakeNames[name] {
			continue
		}
		if err := w.Row([]any{name, kind, nil, nil, nil, nil}); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return w.End()
}

// schema prints a lake view's columns as DDL with its snapshot, or the DDL
// DuckDB keeps of another table or view.
func (sh *Shell) schema(ctx context.Context, args []string) error {
	var names []string
	if len(args) == 0 {
		for _, t := range sh.Session.Tables() {
			names = append(names, t.Name)
		}
	} else {
		names = args
	}
	var b strings.Builder
	for i, name := range names {
		if i > 0 {
			b.WriteByte('\n')
		}
		if t, ok := sh.Session.Table(name); ok {
			fmt.Fprintf(&b, "-- %s: %s\n", t.Name, t.Describe())
			fmt.Fprintf(&b, "CREATE VIEW %s (\n", t.Name)
			for j, c := range t.Columns {
				fmt.Fprintf(&b, "    %s %s", quoteIdentIfNeeded(c.Name), c.Type)
				if !c.Nullable {
					b.WriteString(" NOT NULL")
				}
				if j < len(t.Columns)-1 {
					b.WriteByte(',')
				}
				if c.Partition {
					b.WriteString(" -- partition")
				}
				b.WriteByte('\n')
			}
			b.WriteString(");\n")
			continue
		}
		var ddl string
		err := sh.Session.Conn().QueryRowContext(ctx, `
SELECT sql FROM duckdb_tables() WHERE table_name = $1
UNION ALL SELECT sql FROM duckdb_views() WHERE view_name = $1 AND NOT internal
LIMIT 1`, name).Scan(&ddl)
		if err != nil {
			return fmt.Errorf("no table or view %q", name)
		}
		b.WriteString(strings.TrimRight(ddl, "\n"))
		b.WriteByte('\n')
	}
	_, err := io.WriteString(sh.Out, b.String())
	return err
}

// quoteIdentIfNeeded quotes identifiers that are not plain lower-case words.
func quoteIdentIfNeeded(s string) string {
	if validTableName(s) && strings.ToLower(s) == s && !reservedWords[strings.ToUpper(s)] {
		return s
	}
	return quoteIdent(s)
}

// reservedWords are words quoted in .schema output (among the column names
// shelflake uses, "partition" and "offset").
var reservedWords = map[string]bool{"PARTITION": true, "OFFSET": true, "KEY": true, "VALUE": true, "ORDER": true, "GROUP": true, "SELECT": true, "FROM": true, "WHERE": true, "LIMIT": true}

// Complete completes the word before pos in line (for a terminal's Tab
// key): dot commands at the start of a line, saved query names after
// .run, table and column names elsewhere. It returns the new line and
// cursor, and false when there is nothing to add.
func (sh *Shell) Complete(line string, pos int) (string, int, bool) {
	start, word, match := sh.candidates(line, pos)
	if len(match) == 0 || word == "" && len(match) > 1 {
		return "", 0, false
	}
	common := match[0]
	for _, m := range match[1:] {
		for !strings.HasPrefix(m, common) {
			common = common[:len(common)-1]
		}
	}
	if len(match) == 1 {
		common += " "
	}
	if len(common) <= len(word) {
		return "", 0, false
	}
	return line[:start] + common + line[pos:], start + len(common), true
}

// Candidates are the completions of the word before pos in line, sorted
// (what a second Tab lists when Complete has nothing to add).
func (sh *Shell) Candidates(line string, pos int) []string {
	_, _, match := sh.candidates(line, pos)
	return match
}

// candidates returns where the word before pos starts, the word, and the
// sorted names it may complete to.
func (sh *Shell) candidates(line string, pos int) (int, string, []string) {
	if pos > len(line) {
		return pos, "", nil
	}
	start := pos
	for start > 0 && (isIdentByte(line[start-1]) || line[start-1] == '.') {
		start--
	}
	word := line[start:pos]
	var cands []string
	switch {
	case start == 0 && strings.HasPrefix(word, "."):
		cands = []string{".exit", ".format", ".help", ".mode", ".queries", ".quit", ".refresh", ".run", ".schema", ".tables", ".timer"}
	case strings.HasPrefix(line, ".run ") && start == len(".run "):
		qs, _ := SavedQueries()
		for _, q := range qs {
			cands = append(cands, q.Name)
		}
	default:
		seen := map[string]bool{}
		for _, t := range sh.Session.Tables() {
			cands = append(cands, t.Name)
			for _, c := range t.Columns {
				if !seen[c.Name] {
					seen[c.Name] = true
					cands = append(cands, c.Name)
				}
			}
		}
		cands = append(cands, "_tables", "_commits")
	}
	var match []string
	for _, c := range cands {
		if strings.HasPrefix(c, word) && !slices.Contains(match, c) {
			match = append(match, c)
		}
	}
	slices.Sort(match)
	return start, word, match
}

// isQuitWord reports whether a line typed at the first prompt is exit or
// quit (with or without a semicolon), which leave as .quit does: psql and
// the sqlite3 shell users type them.
func isQuitWord(t string) bool {
	switch strings.ToLower(strings.TrimSpace(strings.TrimSuffix(t, ";"))) {
	case "exit", "quit":
		return true
	}
	return false
}

// Banner is the shell's greeting: the lake and what it holds.
func (sh *Shell) Banner(lakeName string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "shelflake sql on %s\n", lakeName)
	present := 0
	for _, t := range sh.Session.Tables() {
		if t.Present {
			present++
		}
	}
	fmt.Fprintf(&b, "%d lake tables as views (.tables lists them); statements end with \";\"; .help for commands.\n", present)
	return b.String()
}

// formatDuration is how the timer prints a duration.
func formatDuration(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) + "s"
}
