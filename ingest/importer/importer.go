package importer

import (
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/shelflake/shelflake/schema"
	"github.com/shelflake/shelflake/schema/world"
)

// InputError is input that cannot be imported at all: its Error is one line
// naming the file, the line (0: none) and column, and what to do.
type InputError struct {
	Name   string // file name as given in Options.Name
	Line   int
	Column string
	Msg    string
	Err    error // underlying error, if any
}

func (e *InputError) Error() string {
	var b strings.Builder
	b.WriteString(e.Name)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	if e.Column != "" {
		b.WriteString(": column " + strconv.Quote(e.Column))
	}
	b.WriteString(": " + e.Msg)
	return b.String()
}

func (e *InputError) Unwrap() error { return e.Err }

// Options tune an import. The zero value is usable.
type Options struct {
	// Name is the input's name in messages (default "input").
	Name string
	// Rejects receives every rejected row as a JSON line; nil: rejected
	// rows are only counted.
	Rejects io.Writer
	// KeepDuplicates makes exact duplicate rows ordinary lines instead of
	// rejecting them as duplicate_row.
	KeepDuplicates bool
	// Progress, if set, is called with the number of data rows read so far
	// every few thousand rows and once at the end.
	Progress func(rows int64)
	// Topic overrides the topic records are written to (default
	// schema.TopicPOS).
	Topic string
	// TotalsMemory bounds the memory (estimated) of the open transactions
	// of an export of daily totals (see the package doc). Default 256 MiB.
	TotalsMemory int64
}

// Counts reconcile an import: Rows == Lines + Σ Rejected.
type Counts struct {
	Rows         int64            // data rows read (header excluded)
	Lines        int64            // rows emitted as transaction lines
	Transactions int64            // records emitted
	Sales        int64            // of which sales
	Returns      int64            // of which returns
	Split        int64            // transactions that are a later run of an invoice seen before
	Quantity     int64            // Σ quantity over emitted lines (returns negative)
	Amount       schema.Money     // Σ transaction totals (returns negative)
	Rejected     map[Reason]int64 // rejected rows by reason
}

// RejectedRows is Σ Rejected.
func (c Counts) RejectedRows() int64 {
	var n int64
	for _, v := range c.Rejected {
		n += v
	}
	return n
}

// Reconciles reports whether every row is accounted for.
func (c Counts) Reconciles() bool { return c.Rows == c.Lines+c.RejectedRows() }

// Importer reads one CSV export; see the package doc. Make it with New.
type Importer struct {
	c    *compiled
	cols columns
	r    *csv.Reader
	opts Options
}

// New checks m, reads the header of r and resolves the mapped columns in it,
// without writing anything: a missing column is an *InputError.
func New(ctx context.Context, r io.Reader, m Mapping, opts Options) (*Importer, error) {
	if opts.Name == "" {
		opts.Name = "input"
	}
	if opts.Topic == "" {
		opts.Topic = schema.TopicPOS
	}
	if opts.TotalsMemory <= 0 {
		opts.TotalsMemory = 256 << 20
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := m.compile()
	if err != nil {
		return nil, fmt.Errorf("mapping: %w", err)
	}
	cr := csv.NewReader(r)
	cr.Comma = c.comma
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, &InputError{Name: opts.Name, Line: 1, Msg: "empty file; want a CSV with a header row"}
	}
	if err != nil {
		return nil, &InputError{Name: opts.Name, Line: 1, Msg: "header unreadable: " + errText(err) + "; is it a CSV file?", Err: err}
	}
	header = append([]string(nil), header...)
	cols, err := c.resolve(header)
	if err != nil {
		return nil, &InputError{Name: opts.Name, Line: 1, Msg: err.Error()}
	}
	return &Importer{c: c, cols: cols, r: cr, opts: opts}, nil
}

// Import is New followed by Run.
func Import(ctx context.Context, r io.Reader, m Mapping, sink world.Sink, opts Options) (Counts, error) {
	im, err := New(ctx, r, m, opts)
	if err != nil {
		return Counts{Rejected: map[Reason]int64{}}, err
	}
	return im.Run(ctx, sink)
}

// errText is err's message without csv's "record on line N:" prefix
// detail duplicated by our own line numbers.
func errText(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

const (
	batchRecords  = 256
	progressEvery = 8192
	// maxTotalsLines bounds the lines of a daily-totals transaction (about
	// 100 KB of JSON).
	maxTotalsLines = 1000
)

// run is the state of one Run.
type run struct {
	im     *Importer
	sink   world.Sink
	counts Counts
	batch  []world.Record
	closed map[string]int // invoice → runs emitted or closed so far
	cur    *openTxn       // with invoices: the run being read
	// Daily totals: the open transactions by store, customer, day and
	// direction, and the memory they hold (estimated).
	groups     map[groupKey]*openTxn
	groupBytes int64
	rejBuf     []byte
}

// openTxn is a transaction being filled.
type openTxn struct {
	key  groupKey
	part int // with invoices: which run of the invoice (1, 2, …)
	txn  schema.POSTransaction
	seen map[string]struct{} // its accepted rows, for duplicate_row
}

// Run reads the rows, writes transactions to sink (flushing it at the end)
// and rejected rows to Options.Rejects. On error the counts so far are
// returned with it.
func (im *Importer) Run(ctx context.Context, sink world.Sink) (Counts, error) {
	st := &run{im: im, sink: sink, closed: map[string]int{}, groups: map[groupKey]*openTxn{},
		counts: Counts{Rejected: map[Reason]int64{}}}
	err := st.loop(ctx)
	if err == nil && st.cur != nil {
		err = st.emit(ctx, st.cur)
	}
	if err == nil {
		err = st.emitGroups(ctx)
	}
	if err == nil {
		err = st.writeBatch(ctx)
	}
	if err == nil {
		if err = sink.Flush(ctx); err != nil {
			err = fmt.Errorf("flush sink: %w", err)
		}
	}
	if im.opts.Progress != nil {
		im.opts.Progress(st.counts.Rows)
	}
	return st.counts, err
}

func (st *run) loop(ctx context.Context) error {
	im := st.im
	for {
		rec, err := im.r.Read()
		if err == io.EOF {
			return nil
		}
		line, _ := im.r.FieldPos(0)
		var pe *csv.ParseError
		if err != nil && !errors.As(err, &pe) {
			return &InputError{Name: im.opts.Name, Line: line, Msg: "read: " + err.Error(), Err: err}
		}
		st.counts.Rows++
		if st.counts.Rows%progressEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			if im.opts.Progress != nil {
				im.opts.Progress(st.counts.Rows)
			}
		}
		if pe != nil {
			if err := st.reject(pe.StartLine, rec, rejection{ReasonUnparseable, "CSV: " + errText(pe)}); err != nil {
				return err
			}
			continue
		}
		if err := st.row(ctx, line, rec); err != nil {
			return err
		}
	}
}

// row handles one CSV record read at line.
func (st *run) row(ctx context.Context, line int, rec []string) error {
	r, rej := st.im.c.decode(rec, &st.im.cols)
	if rej.reason != "" {
		return st.reject(line, rec, rej)
	}
	if st.im.cols.invoice < 0 {
		return st.total(ctx, line, rec, &r)
	}
	if k := r.key(); st.cur == nil || k != st.cur.key {
		if st.cur != nil {
			if err := st.emit(ctx, st.cur); err != nil {
				return err
			}
		}
		st.cur = st.open(&r, line, st.cur)
	}
	if rej = st.add(st.cur, &r, rec); rej.reason != "" {
		return st.reject(line, rec, rej)
	}
	st.counts.Lines++
	return nil
}

// total adds a row of daily totals to its store-day's open transaction,
// wherever in the file the row is: an export ordered by item, then day,
// still makes one record per store and day, not one per row. A
// transaction is emitted at maxTotalsLines lines (a store with tens of
// thousands of items a day would make records past a broker's message
// size), and every open one once they hold Options.TotalsMemory.
func (st *run) total(ctx context.Context, line int, rec []string, r *row) error {
	k := r.key()
	g := st.groups[k]
	if g == nil {
		g = st.open(r, line, nil)
		st.groups[k] = g
	}
	if rej := st.add(g, r, rec); rej.reason != "" {
		return st.reject(line, rec, rej)
	}
	st.counts.Lines++
	st.groupBytes += lineBytes + int64(len(r.sku))
	if !st.im.opts.KeepDuplicates {
		st.groupBytes += seenBytes
		for _, f := range rec {
			st.groupBytes += int64(len(f)) + 1
		}
	}
	if len(g.txn.Lines) >= maxTotalsLines {
		delete(st.groups, k)
		if err := st.emit(ctx, g); err != nil {
			return err
		}
	}
	if st.groupBytes >= st.im.opts.TotalsMemory {
		return st.emitGroups(ctx)
	}
	return nil
}

// Estimated memory of a daily-totals line and of its duplicate check.
const (
	lineBytes = 96
	seenBytes = 64
)

// emitGroups emits every open daily-totals transaction, by day, store,
// customer and direction: the records come out in date order, as ingest
// writes them best.
func (st *run) emitGroups(ctx context.Context) error {
	gs := make([]*openTxn, 0, len(st.groups))
	for _, g := range st.groups {
		gs = append(gs, g)
	}
	slices.SortFunc(gs, func(a, b *openTxn) int {
		return cmp.Or(cmp.Compare(a.key.date, b.key.date), cmp.Compare(a.key.store, b.key.store),
			cmp.Compare(a.key.customer, b.key.customer), cmp.Compare(a.txn.TransactionID, b.txn.TransactionID))
	})
	clear(st.groups)
	st.groupBytes = 0
	for _, g := range gs {
		if err := st.emit(ctx, g); err != nil {
			return err
		}
	}
	return nil
}

// open starts r's transaction, read at line, reusing old's buffers when
// given.
func (st *run) open(r *row, line int, old *openTxn) *openTxn {
	g := old
	if g == nil {
		g = &openTxn{seen: map[string]struct{}{}}
	}
	g.key = r.key()
	var id string
	if st.im.cols.invoice < 0 {
		// Daily totals: named by the store, the date and the line of
		// its first row, unique in the file and the same on every
		// import of it.
		g.part = 1
		id = r.store + "-" + r.date.String() + "-L" + strconv.Itoa(line)
	} else {
		g.part = st.closed[r.invoice] + 1
		id = r.invoice
		if g.part > 1 {
			id += "#" + strconv.Itoa(g.part)
		}
	}
	typ := schema.TxnSale
	if r.ret {
		typ = schema.TxnReturn
	}
	g.txn = schema.POSTransaction{
		SchemaVersion: schema.CurrentVersion, TransactionID: id, StoreID: r.store,
		RegisterID: st.im.c.m.Register, Type: typ, BusinessDate: r.date, EventTime: r.at,
		Currency: st.im.c.m.Currency, CustomerID: r.customer, Lines: g.txn.Lines[:0],
	}
	clear(g.seen)
	return g
}

// add appends an accepted row to g as a line, or says why it cannot be one.
func (st *run) add(g *openTxn, r *row, rec []string) rejection {
	if !st.im.opts.KeepDuplicates {
		k := strings.Join(rec, "\x00")
		if _, dup := g.seen[k]; dup {
			if r.invoice == "" {
				return rejection{ReasonDuplicate, "same as an earlier row of the same store and day"}
			}
			return rejection{ReasonDuplicate, "same as an earlier row of invoice " + r.invoice}
		}
		g.seen[k] = struct{}{}
	}
	amt, _ := lineAmount(r.qty, r.price) // decode checked the range
	if r.ret {
		amt = -amt
	}
	if t := g.txn.Total + amt; t > schema.MaxMoney || t < -schema.MaxMoney {
		return rejection{ReasonOutOfRange, "transaction total would pass " + schema.MaxMoney.String()}
	}
	g.txn.Total += amt
	g.txn.Lines = append(g.txn.Lines, schema.POSLine{
		LineNo: len(g.txn.Lines) + 1, SKU: r.sku, Quantity: r.qty, UnitPrice: r.price, LineTotal: amt,
	})
	return rejection{}
}

// emit writes g's transaction, if it has lines.
func (st *run) emit(ctx context.Context, g *openTxn) error {
	if g.key.invoice != "" {
		st.closed[g.key.invoice] = g.part
	}
	t := &g.txn
	if len(t.Lines) == 0 {
		return nil
	}
	t.Tenders = []schema.Tender{{Type: schema.TenderOther, Amount: t.Total}}
	v, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("encode transaction %s: %w", t.TransactionID, err)
	}
	st.batch = append(st.batch, world.Record{Topic: st.im.opts.Topic, Key: []byte(t.StoreID), Value: v})
	c := &st.counts
	c.Transactions++
	if t.Type == schema.TxnReturn {
		c.Returns++
	} else {
		c.Sales++
	}
	if g.part > 1 {
		c.Split++
	}
	for i := range t.Lines {
		c.Quantity += t.Lines[i].Quantity
	}
	c.Amount += t.Total
	if len(st.batch) >= batchRecords {
		return st.writeBatch(ctx)
	}
	return nil
}

func (st *run) writeBatch(ctx context.Context) error {
	if len(st.batch) == 0 {
		return nil
	}
	if err := st.sink.Write(ctx, st.batch); err != nil {
		return fmt.Errorf("write %d records to the sink: %w", len(st.batch), err)
	}
	st.batch = make([]world.Record, 0, batchRecords) // the sink may keep the old slice
	return nil
}

// rejectedRow is one line of the rejects file.
type rejectedRow struct {
	Line   int      `json:"line"`
	Reason Reason   `json:"reason"`
	Detail string   `json:"detail"`
	Row    []string `json:"row"`
}

func (st *run) reject(line int, rec []string, rej rejection) error {
	st.counts.Rejected[rej.reason]++
	w := st.im.opts.Rejects
	if w == nil {
		return nil
	}
	b, err := json.Marshal(rejectedRow{Line: line, Reason: rej.reason, Detail: rej.detail, Row: rec})
	if err != nil {
		return fmt.Errorf("encode rejected line %d: %w", line, err)
	}
	st.rejBuf = append(append(st.rejBuf[:0], b...), '\n')
	if _, err := w.Write(st.rejBuf); err != nil {
		return fmt.Errorf("write rejected line %d: %w", line, err)
	}
	return nil
}
