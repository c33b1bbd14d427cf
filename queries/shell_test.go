package queries

import (
	"bytes"
	"context"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestShellRunsAScriptFromAPipe(t *testing.T) {
	f := getFixture(t)
	s := openSession(t, f, Options{})
	pr, pw := io.Pipe()
	go func() {
		// Written a piece at a time, as a pipe delivers it.
		for _, part := range []string{
			"-- a comment line\n",
			"SELECT store_id,\n",
			"       count(*) AS n\n",
			"FROM pos_lines GROUP BY store_id\n",
			"ORDER BY store_id;\n",
			".tables\n",
			".schema pos_lines\n",
			".format csv\n",
			".run top_movers limit=3 days=7\n",
			"SELECT 'no semicolon at the end' AS last",
		} {
			if _, err := io.WriteString(pw, part); err != nil {
				return
			}
		}
		pw.Close()
	}()
	var out, errOut bytes.Buffer
	sh := &Shell{Session: s, Out: &out, Err: &errOut}
	if err := sh.Run(t.Context(), NewScriptReader(pr)); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	perStore := map[string]int{}
	for i := range f.pos {
		perStore[f.pos[i].StoreID]++
	}
	for _, re := range []string{`\n pos_lines +\| lake +\| +4 \| +40 \| +\d+ \| 2026-06-01 12:00:00\+00\n`, `\n _commits +\| lake metadata +\|`} {
		if !regexp.MustCompile(re).MatchString(got) {
			t.Errorf(".tables output does not match %s:\n%s", re, got)
		}
	}
	for store, n := range perStore {
		if !regexp.MustCompile(`\n ` + store + ` +\| +` + strconv.Itoa(n) + `\n`).MatchString(got) {
			t.Errorf("output lacks %s's %d lines:\n%s", store, n, got)
		}
	}
	for _, want := range []string{
		" store_id | n",
		"(3 rows)",
		"CREATE VIEW pos_lines (\n    transaction_id VARCHAR NOT NULL,",
		"    dt DATE NOT NULL -- partition\n);",
		"sku,description,category,units_sold,prior_units_sold,change,change_pct,stores_selling\n",
		"last\nno semicolon at the end\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if errOut.Len() != 0 {
		t.Errorf("stderr: %s", errOut.String())
	}
	if n := strings.Count(got, "\nSKU"); n != 3 {
		t.Errorf("%d top movers, want 3:\n%s", n, got)
	}
}

func TestShellScriptStopsAtItsFirstError(t *testing.T) {
	s := scratchSession(t)
	var out bytes.Buffer
	sh := &Shell{Session: s, Out: &out, Err: io.Discard}
	err := sh.Run(t.Context(), NewScriptReader(strings.NewReader("SELECT 1 AS a;\n\nSELEC 2;\nSELECT 3 AS c;\n")))
	if err == nil || !strings.Contains(err.Error(), "statement at line 3") || !strings.Contains(err.Error(), "syntax error") {
		t.Errorf("error %v, want a syntax error at line 3", err)
	}
	if strings.Contains(out.String(), " c\n") {
		t.Errorf("ran past the error:\n%s", out.String())
	}
	err = sh.Run(t.Context(), NewScriptReader(strings.NewReader(".nonsense\nSELECT 1;\n")))
	if err == nil || !strings.Contains(err.Error(), "unknown command .nonsense") {
		t.Errorf("error %v", err)
	}
}

// scripted is an interactive LineReader: it hands out lines (an empty
// string stands for Ctrl-C) and records the prompts.
type scripted struct {
	lines   []string
	prompts []string
}

func (s *scripted) ReadLine(prompt string) (string, error) {
	s.prompts = append(s.prompts, prompt)
	if len(s.lines) == 0 {
		return "", io.EOF
	}
	l := s.lines[0]
	s.lines = s.lines[1:]
	if l == "" {
		return "", ErrInterrupted
	}
	return l, nil
}

func TestInteractiveShellPromptsReportsAndCarriesOn(t *testing.T) {
	f := getFixture(t)
	s := openSession(t, f, Options{})
	in := &scripted{lines: []string{
		"SELECT 40",
		"  + 2 AS answer",
		";",
		"SELEC oops;",
		"SELECT 'dropped' AS x,", "", // Ctrl-C drops the statement
		".timer on",
		"SELECT 'kept' AS y; .timer off",
		".format json",
		"SELECT 1 AS z;",
		".quit",
		"SELECT 'never' AS w;",
	}}
	var out, errOut bytes.Buffer
	sh := &Shell{Session: s, Out: &out, Err: &errOut, Interactive: true}
	if err := sh.Run(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	wantPrompts := []string{PromptFirst, PromptMore, PromptMore, PromptFirst, PromptFirst, PromptMore, PromptFirst, PromptFirst, PromptFirst, PromptFirst, PromptFirst}
	if strings.Join(in.prompts, "|") != strings.Join(wantPrompts, "|") {
		t.Errorf("prompts %q, want %q", in.prompts, wantPrompts)
	}
	got := out.String()
	for _, want := range []string{" answer\n--------\n     42\n", " y\n------\n kept\n", "[\n{\"z\":1}\n]\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	for _, not := range []string{"dropped", "never"} {
		if strings.Contains(got, not) {
			t.Errorf("output has %q:\n%s", not, got)
		}
	}
	e := errOut.String()
	if !strings.Contains(e, "Error: Parser Error: syntax error at or near \"SELEC\"") || strings.Count(e, "Run time: ") != 1 {
		t.Errorf("stderr:\n%s", e)
	}
}

func TestShellCancelsARunningQueryThroughItsInterruptHook(t *testing.T) {
	s := scratchSession(t)
	var errOut bytes.Buffer
	hooked := 0
	sh := &Shell{Session: s, Out: io.Discard, Err: &errOut, Interactive: true,
		Interrupt: func(cancel context.CancelFunc) func() {
			hooked++
			// Ctrl-C arrives some time after the query started; whenever
			// it does, the query stops.
			tm := time.AfterFunc(50*time.Millisecond, cancel)
			return func() { tm.Stop() }
		}}
	in := &scripted{lines: []string{"SELECT count(*) FROM range(1000000000000) a WHERE a.range % 7 = 3;", "SELECT 'still here' AS s;"}}
	var out bytes.Buffer
	sh.Out = &out
	if err := sh.Run(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	if hooked != 2 || !strings.Contains(errOut.String(), "query cancelled") || !strings.Contains(out.String(), "still here") {
		t.Errorf("hooked %d times; stderr %q; stdout %q", hooked, errOut.String(), out.String())
	}
}

func TestShellCompletesCommandsTablesAndSavedQueries(t *testing.T) {
	f := getFixture(t)
	s := openSession(t, f, Options{})
	sh := &Shell{Session: s}
	for _, c := range []struct {
		line, want string
		ok         bool
	}{
		{".ta", ".tables ", true},
		{".ti", ".timer ", true},
		{".r", ".re", false}, // .refresh, .run: nothing common to add
		{"SELECT * FROM pos_", "SELECT * FROM pos_lines ", true},
		{"SELECT * FROM inv", "SELECT * FROM inventory_snapshots ", true},
		{".run sell", ".run sell_through ", true},
		{"SELECT * FROM nothing_like_it", "", false},
		{"SELECT store_i", "SELECT store_id ", true},
		{"SELECT sum(unit_pr", "SELECT sum(unit_price ", true},
	} {
		got, pos, ok := sh.Complete(c.line, len(c.line))
		if ok != c.ok || ok && (got != c.want || pos != len(c.want)) {
			t.Errorf("Complete(%q) = %q, %d, %v; want %q, %v", c.line, got, pos, ok, c.want, c.ok)
		}
	}
}

func TestShellLeavesOnExitOrQuitWithoutADot(t *testing.T) {
	f := getFixture(t)
	s := openSession(t, f, Options{})
	for _, word := range []string{"exit", "quit", "QUIT;", "  exit  "} {
		t.Run(word, func(t *testing.T) {
			var out bytes.Buffer
			sh := &Shell{Session: s, Out: &out, Format: FormatCSV}
			// Nothing after the word runs: the shell has left.
			in := NewScriptReader(strings.NewReader("SELECT 1 AS a;\n" + word + "\nSELECT 2 AS b;\n"))
			if err := sh.Run(context.Background(), in); err != nil {
				t.Fatal(err)
			}
			if got := out.String(); !strings.Contains(got, "a\n1") || strings.Contains(got, "b\n2") {
				t.Errorf("output %q: want the first statement only", got)
			}
		})
	}
}

func TestShellRefusesParquet(t *testing.T) {
	sh := &Shell{Session: scratchSession(t), Out: io.Discard, Err: io.Discard, Format: FormatParquet}
	if err := sh.Run(t.Context(), NewScriptReader(strings.NewReader("SELECT 1;"))); err == nil {
		t.Error("no error")
	}
	sh.Format = FormatTable
	err := sh.Run(t.Context(), NewScriptReader(strings.NewReader(".format parquet\n")))
	if err == nil || errors.Is(err, io.EOF) {
		t.Errorf("error %v", err)
	}
}
