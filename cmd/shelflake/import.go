package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shelflake/shelflake/ingest/importer"
	"github.com/shelflake/shelflake/schema/world"
)

type importOpts struct {
	preset         string
	mapping        string
	out            string
	brokers        string
	rejects        string
	keepDuplicates bool
}

func newImportCmd(a *app) *cobra.Command {
	o := importOpts{}
	cmd := &cobra.Command{
		Use:   "import FILE[.gz]",
		Short: "Import a POS CSV export as pos.transactions records (to Kafka or JSONL)",
		Long: `import reads a point-of-sale CSV export (gzip or not: detected by its magic
bytes), groups its rows into one transaction per invoice (or per store and day
for an export of daily totals) and writes them as pos.transactions records to
Kafka (--brokers) and/or JSONL (--out DIR writes DIR/<topic>.jsonl like gen;
--out FILE.jsonl writes that one file).

The columns come from a preset (--preset online-retail: the UCI Online Retail
export; store-item-daily: date,store,item,sales) and/or a JSON mapping
(--mapping FILE, applied over the preset). An export of daily totals per store
and item maps too: no "invoice" (a negative quantity is a return),
"default_unit_price" without a price column. Rows
that are not sale or return lines (bad-debt adjustments, non-merchandise codes,
stock adjustments, zero prices, duplicates, unparseable rows) are rejected with
a reason and written to --rejects FILE (JSONL) when given. At the end it prints
the reconciliation: rows in = lines out + rejected, by reason. The rules are in
the ingest/importer package documentation.

A bad header or mapping stops it before anything is created. Files are written
under temporary names and renamed at the end, so a failed import leaves none;
records already produced to Kafka stay there.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runImport(cmd.Context(), o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.preset, "preset", "", "built-in column mapping: online-retail or store-item-daily")
	f.StringVar(&o.mapping, "mapping", "", "JSON column mapping file, applied over --preset")
	f.StringVar(&o.out, "out", "", "write DIR/<topic>.jsonl, or FILE.jsonl, one record value per line")
	f.StringVar(&o.brokers, "brokers", "", "produce to these Kafka brokers, host:port[,host:port] (env SHELFLAKE_BROKERS when --out is not given either)")
	f.StringVar(&o.rejects, "rejects", "", "write rejected rows to FILE as JSON lines (line, reason, detail, row)")
	f.BoolVar(&o.keepDuplicates, "keep-duplicates", false, "import rows that exactly repeat an earlier row of their invoice instead of rejecting them")
	return cmd
}

// loadMapping builds the mapping from --preset and --mapping.
func loadMapping(o importOpts) (importer.Mapping, error) {
	var m importer.Mapping
	if o.preset == "" && o.mapping == "" {
		return m, errors.New("say how to read the columns: --preset online-retail and/or --mapping FILE")
	}
	if o.preset != "" {
		var err error
		if m, err = importer.Preset(o.preset); err != nil {
			return m, fmt.Errorf("--preset: %w", err)
		}
	}
	if o.mapping != "" {
		f, err := os.Open(o.mapping)
		if err != nil {
			return m, fmt.Errorf("--mapping: %w", err)
		}
		defer f.Close()
		return importer.ReadMapping(f, o.mapping, m)
	}
	return m, m.Validate()
}

func (a *app) runImport(ctx context.Context, o importOpts, path string) error {
	if o.brokers == "" && o.out == "" {
		o.brokers = os.Getenv("SHELFLAKE_BROKERS")
	}
	if o.out == "" && o.brokers == "" {
		return errors.New("say where to write: --out DIR-or-FILE.jsonl and/or --brokers HOST:PORT")
	}
	m, err := loadMapping(o)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open input: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", path, err)
	}
	counter := &countingReader{r: f}
	in, err := openMaybeGzip(counter, path)
	if err != nil {
		return err
	}
	// Header and mapping are checked before any output exists.
	opts := importer.Options{Name: path, KeepDuplicates: o.keepDuplicates}
	var rejBuf *bufio.Writer
	var rej *os.File
	if o.rejects != "" {
		// rejBuf exists only once the header has been checked (below), so bad
		// input creates no file; the importer writes rejects only in Run.
		opts.Rejects = writerFunc(func(b []byte) (int, error) { return rejBuf.Write(b) })
	}
	im, err := importer.New(ctx, in, m, opts)
	if err != nil {
		return err
	}
	prog := a.newProgress("import", "bytes", st.Size())
	counter.start(prog.Add)

	var sinks multiSink
	var closers []func(ok bool) error // run in order; ok false aborts
	fail := func(err error) error {
		for _, c := range closers {
			c(false)
		}
		return err
	}
	if o.rejects != "" {
		tmp := o.rejects + ".tmp"
		if rej, err = os.Create(tmp); err != nil {
			return fmt.Errorf("--rejects: %w", err)
		}
		rejBuf = bufio.NewWriterSize(rej, 1<<20)
		closers = append(closers, func(ok bool) error {
			if !ok {
				rej.Close()
				os.Remove(tmp)
				return nil
			}
			if err := errors.Join(rejBuf.Flush(), rej.Sync(), rej.Close()); err != nil {
				os.Remove(tmp)
				return fmt.Errorf("write %s: %w", o.rejects, err)
			}
			return os.Rename(tmp, o.rejects)
		})
	}
	if o.out != "" {
		if strings.HasSuffix(o.out, ".jsonl") {
			fs, err := newFileSink(o.out)
			if err != nil {
				return fail(err)
			}
			sinks = append(sinks, fs)
			closers = append(closers, fs.finish)
		} else {
			dir, err := world.NewDirSink(o.out)
			if err != nil {
				return fail(err)
			}
			sinks = append(sinks, dir)
			closers = append(closers, func(ok bool) error {
				if !ok {
					dir.Abort()
					return nil
				}
				return dir.Close()
			})
		}
	}
	if o.brokers != "" {
		ks, err := newKafkaSink(ctx, strings.Split(o.brokers, ","))
		if err != nil {
			return fail(err)
		}
		defer ks.Close()
		sinks = append(sinks, ks)
	}

	began := time.Now()
	c, err := im.Run(ctx, sinks)
	prog.Finish()
	if err != nil {
		return fail(err)
	}
	var errs []error
	for _, cl := range closers {
		if err := cl(true); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	printReconciliation(a.stdout, c)
	if !c.Reconciles() {
		return fmt.Errorf("rows do not reconcile: %d in, %d lines + %d rejected", c.Rows, c.Lines, c.RejectedRows())
	}
	a.log.Info("imported", "file", path, "out", o.out, "brokers", o.brokers, "rejects", o.rejects,
		"elapsed", time.Since(began).Round(time.Millisecond))
	return nil
}

// printReconciliation writes the summary: rows in = lines out + rejected.
func printReconciliation(w io.Writer, c importer.Counts) {
	fmt.Fprintf(w, "%-22s %10d\n", "rows in", c.Rows)
	fmt.Fprintf(w, "%-22s %10d in %d transactions (%d sales, %d returns, %d later runs of an invoice)\n",
		"lines out", c.Lines, c.Transactions, c.Sales, c.Returns, c.Split)
	fmt.Fprintf(w, "%-22s %10d\n", "rejected", c.RejectedRows())
	for _, r := range importer.Reasons {
		if n := c.Rejected[r]; n > 0 {
			fmt.Fprintf(w, "  %-20s %10d\n", r, n)
		}
	}
	fmt.Fprintf(w, "%-22s %10d = %d + %d: %s\n", "reconciliation", c.Rows, c.Lines, c.RejectedRows(),
		map[bool]string{true: "ok", false: "MISMATCH"}[c.Reconciles()])
	fmt.Fprintf(w, "%-22s %10d units, %s in value (returns negative)\n", "imported", c.Quantity, c.Amount)
}

// openMaybeGzip returns r decompressed if it starts with gzip's magic bytes.
func openMaybeGzip(r io.Reader, name string) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	magic, err := br.Peek(2)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if !bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		return br, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("%s: gzip header: %w; is the file complete?", name, err)
	}
	return bufio.NewReaderSize(zr, 1<<20), nil
}

// countingReader reports the bytes read through it to add, once started.
type countingReader struct {
	r   io.Reader
	n   int64
	add func(int64)
}

// start reports the bytes read so far to add, and all later ones.
func (c *countingReader) start(add func(int64)) {
	c.add = add
	add(c.n)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.add != nil {
		c.add(int64(n))
	} else {
		c.n += int64(n)
	}
	return n, err
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// fileSink writes every record's value to one JSONL file, under a temporary
// name until finish(true) renames it into place.
type fileSink struct {
	final, tmp string
	f          *os.File
	w          *bufio.Writer
}

func newFileSink(path string) (*fileSink, error) {
	if dir := filepath.Dir(path); dir != "." {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("--out %s: %w", path, err)
		}
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return nil, fmt.Errorf("--out: %w", err)
	}
	return &fileSink{final: path, tmp: tmp, f: f, w: bufio.NewWriterSize(f, 1<<20)}, nil
}

func (s *fileSink) Write(_ context.Context, recs []world.Record) error {
	for _, r := range recs {
		if slices.Contains(r.Value, '\n') {
			return fmt.Errorf("topic %s: value holds a newline", r.Topic)
		}
		s.w.Write(r.Value)
		if err := s.w.WriteByte('\n'); err != nil {
			return fmt.Errorf("write %s: %w", s.tmp, err)
		}
	}
	return nil
}

func (s *fileSink) Flush(context.Context) error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", s.tmp, err)
	}
	return nil
}

func (s *fileSink) finish(ok bool) error {
	if !ok {
		s.f.Close()
		os.Remove(s.tmp)
		return nil
	}
	if err := errors.Join(s.w.Flush(), s.f.Sync(), s.f.Close()); err != nil {
		os.Remove(s.tmp)
		return fmt.Errorf("write %s: %w", s.final, err)
	}
	return os.Rename(s.tmp, s.final)
}
