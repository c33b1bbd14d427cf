package world

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shelflake/shelflake/schema"
)

// Progress receives the generator's advance in location-days (total:
// locations × days).
type Progress interface {
	Add(n int64)
}

// GenerateOptions say where and how World.Generate publishes.
type GenerateOptions struct {
	// Sink receives the records (required).
	Sink Sink
	// TruthDir receives the ground truth (required): demand.csv,
	// dc_demand.csv, malformed.jsonl, world.json and summary.json.
	TruthDir string
	// BadRate is the chance that a valid record is followed by a malformed
	// one derived from it (same topic and key), in [0, 0.5].
	BadRate float64
	// Rate, when > 0, is live mode: records (valid and malformed) are sent at
	// Rate per second and every time field is stamped with the wall clock at
	// sending, in the location's zone (promotions: headquarters'); business
	// dates are its local date, and PO and promotion dates shift with it.
	// The world's days pass as fast as the rate allows. 0 is backfill: as
	// fast as possible, world times.
	Rate float64
	// Now is the live clock (default time.Now).
	Now func() time.Time
	// Workers bounds the goroutines simulating locations (default GOMAXPROCS).
	Workers int
	// Progress, when set, is told of each location-day published.
	Progress Progress
}

func (o *GenerateOptions) validate() error {
	var errs []error
	if o.Sink == nil {
		errs = append(errs, errors.New("sink: required"))
	}
	if o.TruthDir == "" {
		errs = append(errs, errors.New("truth dir: required"))
	}
	if !(o.BadRate >= 0 && o.BadRate <= 0.5) {
		errs = append(errs, fmt.Errorf("bad rate %v: want 0..0.5", o.BadRate))
	}
	if !(o.Rate >= 0) {
		errs = append(errs, fmt.Errorf("rate %v: want ≥ 0", o.Rate))
	}
	if o.Workers < 0 {
		errs = append(errs, fmt.Errorf("workers %d: want ≥ 0", o.Workers))
	}
	return errors.Join(errs...)
}

// TopicCounts counts one topic's records.
type TopicCounts struct {
	Valid     int64 `json:"valid"`
	Malformed int64 `json:"malformed"`
}

// Summary is truth/summary.json: what was published. Later stages check the
// lake against it.
type Summary struct {
	// Topics counts valid and malformed records per topic.
	Topics map[string]TopicCounts `json:"topics"`
	// POSLines is the number of lines of valid POS transactions of every type
	// (sale, return, void); POSQuantity is the plain sum of their quantity
	// fields: sales and voids count positive, returns negative.
	POSLines    int64 `json:"pos_lines"`
	POSQuantity int64 `json:"pos_quantity"`
	// Transactions counts valid POS transactions by type.
	Transactions map[string]int64 `json:"transactions"`
	// The store totals of the ground truth over all days: true demand, units
	// sold (= sale quantity), demand lost to stockouts, units returned.
	StoreDemand   int64 `json:"store_demand"`
	StoreSold     int64 `json:"store_sold"`
	StoreLost     int64 `json:"store_lost"`
	StoreReturned int64 `json:"store_returned"`
	// The world that was published.
	Seed    uint64      `json:"seed"`
	Stores  int         `json:"stores"`
	DCs     int         `json:"dcs"`
	SKUs    int         `json:"skus"`
	Days    int         `json:"days"`
	Start   schema.Date `json:"start"`
	BadRate float64     `json:"bad_rate"`
	Live    bool        `json:"live"`
	// Complete is false when generation stopped early (live mode interrupted).
	Complete bool `json:"complete"`
}

// MalformedRecord is one line of truth/malformed.jsonl: a malformed record
// the generator sent. Seq is its position among all records of its topic
// (0-based; the line number in <topic>.jsonl).
type MalformedRecord struct {
	Topic  string `json:"topic"`
	Key    string `json:"key"`
	Kind   string `json:"kind"`
	Reason string `json:"reason"`
	Seq    int64  `json:"seq"`
}

// Truth file names in GenerateOptions.TruthDir.
const (
	TruthDemand    = "demand.csv"
	TruthDCDemand  = "dc_demand.csv"
	TruthMalformed = "malformed.jsonl"
	TruthSummary   = "summary.json"
	TruthWorld     = "world.json"
)

// DemandHeader is the header of demand.csv (dc_demand.csv has location_id
// for store_id): one row per location, SKU and day, in (date, location, SKU)
// order. demand is the true demand, sold = min(demand, stock), lost =
// demand − sold, returned the units returned, received the units received,
// on_hand and on_order the position at close.
const DemandHeader = "date,store_id,sku,demand,sold,lost,returned,received,on_hand,on_order"

// Generate runs the world day by day and publishes its records to
// opts.Sink and its ground truth to opts.TruthDir. Same world and options
// (in backfill mode) → the same records in the same order, byte for byte, and
// the same truth files. If ctx ends, it flushes what it sent, writes the
// truth of the days it finished, and returns ctx's error with the summary.
func (w *World) Generate(ctx context.Context, opts GenerateOptions) (*Summary, error) {
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("generate options: %w", err)
	}
	if opts.Workers == 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	tw, err := newTruthWriter(opts.TruthDir)
	if err != nil {
		return nil, err
	}
	defer tw.abort()
	if err := tw.writeWorld(w); err != nil {
		return nil, err
	}
	if w.cfg.Faults != nil {
		if err := tw.openFaults(); err != nil {
			return nil, err
		}
	}
	em := &emitter{w: w, opts: &opts, tw: tw, sum: &Summary{
		Topics: map[string]TopicCounts{}, Transactions: map[string]int64{},
		Seed: w.cfg.Seed, Stores: w.cfg.Stores, DCs: w.cfg.DCs, SKUs: w.cfg.SKUs, Days: w.cfg.Days,
		Start: w.cfg.Start, BadRate: opts.BadRate, Live: opts.Rate > 0,
	}}
	for _, t := range topicNames {
		em.sum.Topics[t] = TopicCounts{}
	}
	em.promos = w.promotionsByPublishDay()

	// Every series' state; series are stepped only by their location's worker.
	sims := make([][]*Sim, len(w.locs))
	for loc := range w.locs {
		sims[loc] = make([]*Sim, w.cfg.SKUs)
		for sku := range w.cfg.SKUs {
			s := w.NewSim()
			s.Reset(loc, sku, nil)
			sims[loc][sku] = s
		}
	}
	renderers := make(chan *renderer, opts.Workers)
	for range opts.Workers {
		renderers <- &renderer{w: w}
	}

	g, gctx := errgroup.WithContext(ctx)
	days := make(chan []locDay, 1)
	g.Go(func() error {
		defer close(days)
		for d := range w.cfg.Days {
			out := make([]locDay, len(w.locs))
			lg, lctx := errgroup.WithContext(gctx)
			lg.SetLimit(opts.Workers)
			for loc := range w.locs {
				lg.Go(func() error {
					if err := lctx.Err(); err != nil {
						return err
					}
					rd := <-renderers
					defer func() { renderers <- rd }()
					var err error
					out[loc], err = rd.render(sims[loc], loc, d, opts.BadRate, opts.Rate == 0)
					return err
				})
			}
			if err := lg.Wait(); err != nil {
				return err
			}
			select {
			case days <- out:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	g.Go(func() error {
		for d := 0; ; d++ {
			var out []locDay
			select {
			case o, ok := <-days:
				if !ok {
					return nil
				}
				out = o
			case <-gctx.Done():
				return gctx.Err()
			}
			if err := em.day(gctx, d, out); err != nil {
				return err
			}
		}
	})
	runErr := g.Wait()
	em.sum.Complete = runErr == nil
	// Deliver what was sent even when ctx ended, then write the truth.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := opts.Sink.Flush(fctx); err != nil {
		return em.sum, errors.Join(runErr, fmt.Errorf("flush sink: %w", err))
	}
	if err := tw.finish(em.sum); err != nil {
		return em.sum, errors.Join(runErr, err)
	}
	return em.sum, runErr
}

// emitter publishes days in order, tallies and writes the truth rows.
type emitter struct {
	w     *World
	opts  *GenerateOptions
	tw    *truthWriter
	sum   *Summary
	seq   [numTopics]int64
	batch []Record
	all   []*event
	// promos[d] are the item promotions the ERP publishes on day d.
	promos [][]itemPromotion
	// live mode
	sent      int64
	liveStart time.Time
	snapID    string
	snapAt    time.Time
}

func (em *emitter) day(ctx context.Context, d int, out []locDay) error {
	w := em.w
	// Merge the day's promotions and the locations' events by world time
	// (stable: promotions first, then location order).
	promos, err := w.renderPromotions(d, em.promos[d], em.opts.BadRate, em.opts.Rate == 0)
	if err != nil {
		return err
	}
	em.all = em.all[:0]
	for i := range promos {
		em.all = append(em.all, &promos[i])
	}
	for loc := range out {
		for i := range out[loc].events {
			em.all = append(em.all, &out[loc].events[i])
		}
	}
	sortEvents(em.all)
	em.batch = em.batch[:0]
	for _, e := range em.all {
		if em.opts.Rate > 0 {
			if err := em.pace(ctx); err != nil {
				return err
			}
			em.restamp(e)
			if _, err := e.marshal(nil); err != nil {
				return err
			}
		}
		if err := em.add(ctx, e, false); err != nil {
			return err
		}
		if e.bad != badNone {
			if em.opts.Rate > 0 {
				if err := em.pace(ctx); err != nil {
					return err
				}
			}
			if err := em.add(ctx, e, true); err != nil {
				return err
			}
		}
	}
	if err := em.flushBatch(ctx); err != nil {
		return err
	}
	date := w.Date(d)
	for loc := range out {
		em.tw.rows(&w.locs[loc], w, date, out[loc].rows, em.sum)
		em.tw.faults(out[loc].faults)
	}
	if err := em.tw.err; err != nil {
		return err
	}
	if em.opts.Progress != nil {
		em.opts.Progress.Add(int64(len(out)))
	}
	return nil
}

func (em *emitter) add(ctx context.Context, e *event, bad bool) error {
	topic := topicNames[e.topic]
	tc := em.sum.Topics[topic]
	val := e.value
	if bad {
		val = e.badValue
		tc.Malformed++
		em.tw.malformed(MalformedRecord{Topic: topic, Key: e.key, Kind: e.bad.name(e.topic), Reason: e.reason, Seq: em.seq[e.topic]})
	} else {
		tc.Valid++
		if tx, ok := e.v.(*schema.POSTransaction); ok {
			em.sum.Transactions[string(tx.Type)]++
			for _, l := range tx.Lines {
				em.sum.POSLines++
				em.sum.POSQuantity += l.Quantity
			}
		}
	}
	em.sum.Topics[topic] = tc
	em.seq[e.topic]++
	em.batch = append(em.batch, Record{Topic: topic, Key: []byte(e.key), Value: val})
	if len(em.batch) >= 4096 || em.opts.Rate > 0 {
		return em.flushBatch(ctx)
	}
	return nil
}

func (em *emitter) flushBatch(ctx context.Context) error {
	if len(em.batch) == 0 {
		return nil
	}
	if err := em.opts.Sink.Write(ctx, em.batch); err != nil {
		return fmt.Errorf("write records: %w", err)
	}
	em.batch = em.batch[:0:0] // the sink may keep the old backing array
	return nil
}

// pace waits until the next record is due at opts.Rate per second.
func (em *emitter) pace(ctx context.Context) error {
	now := em.opts.Now()
	if em.sent == 0 {
		em.liveStart = now
	}
	due := em.liveStart.Add(time.Duration(float64(em.sent) / em.opts.Rate * float64(time.Second)))
	em.sent++
	if wait := due.Sub(now); wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// restamp sets e's time fields to now in its location's zone (all rows of a
// snapshot share the first row's stamp).
func (em *emitter) restamp(e *event) {
	l := &em.w.locs[e.loc]
	now := em.opts.Now().In(l.TZ).Truncate(time.Millisecond)
	today := schema.DateOf(now)
	switch v := e.v.(type) {
	case *schema.POSTransaction:
		v.EventTime, v.BusinessDate = now, today
	case *schema.InventoryRecord:
		if v.SnapshotID != em.snapID {
			em.snapID, em.snapAt = v.SnapshotID, now
		}
		v.AsOf = em.snapAt
	case *schema.PurchaseOrderLine:
		shift := int(today - schema.DateOf(v.UpdatedAt))
		v.OrderDate, v.ExpectedDate, v.UpdatedAt = v.OrderDate.AddDays(shift), v.ExpectedDate.AddDays(shift), now
	case *schema.ItemLocation:
		v.UpdatedAt = now
	case *schema.Promotion:
		// The promotion keeps its notice: its dates move with the publish day.
		shift := int(today - schema.DateOf(v.UpdatedAt))
		v.StartDate, v.EndDate, v.UpdatedAt = v.StartDate.AddDays(shift), v.EndDate.AddDays(shift), now
	}
}

// marshal encodes the record at the end of arena, and its malformed variant
// if any, and returns the arena.
func (e *event) marshal(arena []byte) ([]byte, error) {
	start := len(arena)
	arena, ok := appendRecord(arena, e.v)
	if !ok {
		return arena, fmt.Errorf("encode %s record: unknown type %T", topicNames[e.topic], e.v)
	}
	e.value = arena[start:len(arena):len(arena)]
	if e.bad != badNone {
		var err error
		e.badValue, e.reason, err = malform(e.topic, e.value, e.bad, e.badSeed)
		if err != nil {
			return arena, err
		}
	}
	return arena, nil
}

// truthWriter writes the ground-truth files under temporary names and
// renames them into place at the end.
type truthWriter struct {
	dir   string
	files []*truthFile
	dem   *truthFile
	dcDem *truthFile
	bad   *truthFile
	flt   *truthFile // faults.jsonl, with Config.Faults
	err   error
	buf   []byte
}

type truthFile struct {
	final, tmp string
	f          *os.File
	w          *bufio.Writer
}

func newTruthWriter(dir string) (*truthWriter, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create truth dir: %w", err)
	}
	tw := &truthWriter{dir: dir}
	var err error
	open := func(name string) *truthFile {
		if err != nil {
			return nil
		}
		final := filepath.Join(dir, name)
		var f *os.File
		f, err = os.Create(final + ".tmp")
		if err != nil {
			err = fmt.Errorf("create truth file: %w", err)
			return nil
		}
		tf := &truthFile{final: final, tmp: final + ".tmp", f: f, w: bufio.NewWriterSize(f, 1<<20)}
		tw.files = append(tw.files, tf)
		return tf
	}
	tw.dem = open(TruthDemand)
	tw.dcDem = open(TruthDCDemand)
	tw.bad = open(TruthMalformed)
	if err != nil {
		tw.abort()
		return nil, err
	}
	tw.dem.w.WriteString(DemandHeader + "\n")
	tw.dcDem.w.WriteString("date,location_id" + DemandHeader[len("date,store_id"):] + "\n")
	return tw, nil
}

func (tw *truthWriter) rows(l *Location, w *World, date schema.Date, rows []truthRow, sum *Summary) {
	f := tw.dem
	if l.Kind == KindDC {
		f = tw.dcDem
	}
	ds := date.String()
	for sku, r := range rows {
		b := tw.buf[:0]
		b = append(b, ds...)
		b = append(b, ',')
		b = append(b, l.ID...)
		b = append(b, ',')
		b = append(b, w.items[sku].ID...)
		for _, v := range [...]int64{r.demand, r.sold, r.lost, r.returned, r.received, r.onHand, r.onOrder} {
			b = append(b, ',')
			b = strconv.AppendInt(b, v, 10)
		}
		b = append(b, '\n')
		if _, err := f.w.Write(b); err != nil && tw.err == nil {
			tw.err = fmt.Errorf("write %s: %w", f.tmp, err)
		}
		tw.buf = b
		if l.Kind == KindStore {
			sum.StoreDemand += r.demand
			sum.StoreSold += r.sold
			sum.StoreLost += r.lost
			sum.StoreReturned += r.returned
		}
	}
}

func (tw *truthWriter) malformed(m MalformedRecord) {
	b, err := json.Marshal(m)
	if err == nil {
		b = append(b, '\n')
		_, err = tw.bad.w.Write(b)
	}
	if err != nil && tw.err == nil {
		tw.err = fmt.Errorf("write %s: %w", tw.bad.tmp, err)
	}
}

// worldFile is truth/world.json: the world's locations, suppliers and items.
type worldFile struct {
	Config    Config        `json:"config"`
	Locations []worldLoc    `json:"locations"`
	Suppliers []Supplier    `json:"suppliers"`
	Items     []worldItem   `json:"items"`
	Holidays  []worldClosed `json:"closed_days"`
}

type worldLoc struct {
	ID, Kind, Zone, Country, Currency, Size string
	SizeFactor                              float64
	Registers, OpenHour, CloseHour          int
	TaxStandardBP, TaxReducedBP             int64
}

type worldItem struct {
	ID, Description, Category, Department, Profile, Supplier string
	PriceUSDCents                                            int64
	Base, LumpSize                                           float64
	CasePack                                                 int
	Promotions                                               []Promotion
}

type worldClosed struct {
	Location string        `json:"location"`
	Dates    []schema.Date `json:"dates"`
}

func (tw *truthWriter) writeWorld(w *World) error {
	wf := worldFile{Config: w.cfg, Suppliers: w.suppliers}
	for i := range w.locs {
		l := &w.locs[i]
		wf.Locations = append(wf.Locations, worldLoc{l.ID, string(l.Kind), l.Zone, l.Country, l.Currency, l.Size,
			l.SizeFactor, l.Registers, l.OpenHour, l.CloseHour, l.TaxStandardBP, l.TaxReducedBP})
		wc := worldClosed{Location: l.ID, Dates: []schema.Date{}}
		for d := range w.cfg.Days {
			if !w.Open(i, d) {
				wc.Dates = append(wc.Dates, w.Date(d))
			}
		}
		wf.Holidays = append(wf.Holidays, wc)
	}
	for i := range w.items {
		it := &w.items[i]
		wf.Items = append(wf.Items, worldItem{it.ID, it.Description, it.Category, it.Department, it.Profile.String(),
			w.suppliers[it.Supplier].ID, it.PriceUSDCents, it.Base, it.LumpSize, it.CasePack, it.Promotions})
	}
	b, err := json.MarshalIndent(wf, "", " ")
	if err != nil {
		return fmt.Errorf("encode world.json: %w", err)
	}
	return writeFileAtomic(filepath.Join(tw.dir, TruthWorld), append(b, '\n'))
}

func (tw *truthWriter) finish(sum *Summary) error {
	if tw.err != nil {
		return tw.err
	}
	for _, f := range tw.files {
		if err := f.w.Flush(); err != nil {
			return fmt.Errorf("write %s: %w", f.tmp, err)
		}
		if err := f.f.Sync(); err != nil {
			return fmt.Errorf("sync %s: %w", f.tmp, err)
		}
		if err := f.f.Close(); err != nil {
			return fmt.Errorf("close %s: %w", f.tmp, err)
		}
		if err := os.Rename(f.tmp, f.final); err != nil {
			return fmt.Errorf("rename %s: %w", f.tmp, err)
		}
	}
	tw.files = nil
	b, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return fmt.Errorf("encode summary: %w", err)
	}
	return writeFileAtomic(filepath.Join(tw.dir, TruthSummary), append(b, '\n'))
}

func (tw *truthWriter) abort() {
	for _, f := range tw.files {
		f.f.Close()
		os.Remove(f.tmp)
	}
	tw.files = nil
}

// writeFileAtomic writes b to path via a synced temporary file and a rename.
func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

// ReadSummary reads summary.json from a truth directory.
func ReadSummary(truthDir string) (*Summary, error) {
	b, err := os.ReadFile(filepath.Join(truthDir, TruthSummary))
	if err != nil {
		return nil, fmt.Errorf("read summary: %w", err)
	}
	var s Summary
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decode summary: %w", err)
	}
	return &s, nil
}

// ReadMalformed reads malformed.jsonl from a truth directory.
func ReadMalformed(truthDir string) ([]MalformedRecord, error) {
	f, err := os.Open(filepath.Join(truthDir, TruthMalformed))
	if err != nil {
		return nil, fmt.Errorf("read malformed list: %w", err)
	}
	defer f.Close()
	var out []MalformedRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var m MalformedRecord
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return nil, fmt.Errorf("decode malformed list line %d: %w", len(out)+1, err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read malformed list: %w", err)
	}
	return out, nil
}
