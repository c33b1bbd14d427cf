package world

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/shelflake/shelflake/schema"
)

// Faults makes a world's stock records wrong the way a retailer's are, with
// the ground truth written to faults.jsonl (see [FaultEvent]). Off when
// Config.Faults is nil: then records equal the shelf and no byte of the
// generator's output changes.
//
// With faults on, every series has two stocks: the shelf (physical: what
// sales draw from, demand.csv's on_hand) and the record (the store system's
// perpetual inventory: what inventory snapshots publish and the ERP policy
// orders from). Each day, in this order:
//
//   - 06:30 a cycle count, every CountEveryDays days per series (phase by
//     series): published as a partial snapshot whose snapshot_id starts
//     with CountSnapshotPrefix; the record is set to the shelf, a phantom
//     or stale state ends.
//   - 07:00 receipts: with ReceiptErrorRate a receipt's put-away differs
//     from the quantity the PO line books as received (short, none at all,
//     or over); shelf and record both move by the put-away.
//   - sales draw from the shelf; the record goes down by the units sold,
//     a day late on a store's late-POS days (LatePOSRate per store-day).
//   - shrink: with the category's daily rate times ShrinkScale, one unit
//     leaves the shelf unrecorded.
//   - phantom onset: with PhantomRate per series-day the shelf goes to 0
//     overnight (misplaced, stolen); the record keeps its value, so the ERP
//     keeps seeing stock and does not reorder until a count.
//   - stale snapshot: with StaleRate per series-day the published on hand
//     freezes for StaleDays days while the record moves on.
//   - overstated record: with OverstateRate per series-day, on a day no
//     receipt was booked, the record rises by 2–7 units the shelf never got
//     (a transfer or return keyed twice, a mis-scanned adjustment): the
//     record stands above what the last count and POS explain until the
//     next count. No other fault starts on the series within two days
//     before or after it.
//
// At most one of receipt error, phantom onset and stale start hits a
// series on one day. Faults hit stores only: a DC's outbound demand is on
// no stream, so its records cannot be reconciled against sales.
type Faults struct {
	ShrinkScale      float64 `json:"shrink_scale"`
	PhantomRate      float64 `json:"phantom_rate"`
	ReceiptErrorRate float64 `json:"receipt_error_rate"`
	LatePOSRate      float64 `json:"late_pos_rate"`
	StaleRate        float64 `json:"stale_rate"`
	StaleDays        int     `json:"stale_days"`
	CountEveryDays   int     `json:"count_every_days"`
	OverstateRate    float64 `json:"overstate_rate,omitempty"`
}

// DefaultFaults are rates that give a few of each fault in a small world.
func DefaultFaults() *Faults {
	return &Faults{ShrinkScale: 1, PhantomRate: 0.002, ReceiptErrorRate: 0.03, LatePOSRate: 0.03,
		StaleRate: 0.002, StaleDays: 5, CountEveryDays: 28, OverstateRate: 0.002}
}

// CountSnapshotPrefix starts the snapshot_id of a cycle count.
const CountSnapshotPrefix = "CNT-"

// TruthFaults is the fault ground truth in the truth directory (written
// only when faults are on): one JSON FaultEvent per line.
const TruthFaults = "faults.jsonl"

// Fault kinds (FaultEvent.Kind).
const (
	FaultShrink       = "shrink"
	FaultPhantom      = "phantom_onset"
	FaultReceiptError = "receipt_error"
	FaultLatePOS      = "late_pos"
	FaultStale        = "stale_snapshot"
	FaultCount        = "count"
	FaultOverstated   = "overstated"
	// FaultState is written for every series-day whose record differs from
	// its shelf, after the day: Record and Shelf.
	FaultState = "state"
)

// FaultEvent is one line of faults.jsonl.
type FaultEvent struct {
	Date     schema.Date `json:"date"`
	Location string      `json:"location_id"`
	SKU      string      `json:"sku"`
	Kind     string      `json:"kind"`
	// Units: shrink and late_pos the units; receipt_error the put-away
	// minus the booked quantity; count the record minus the count;
	// stale_snapshot the days frozen; overstated the units the record rose.
	Units int64 `json:"units"`
	// Record and Shelf after the event (count: before it).
	Record int64 `json:"record"`
	Shelf  int64 `json:"shelf"`
	// Shrink is, on a count, the shrink units since the previous count;
	// Phantom says a phantom state was open.
	Shrink  int64 `json:"shrink,omitempty"`
	Phantom bool  `json:"phantom,omitempty"`
}

// FaultDay is what faults did to a series on a day (DayResult.Fault).
type FaultDay struct {
	// Published is the on hand the day's closing snapshot shows;
	// MorningPublished the one after receipts.
	Published, MorningPublished int64
	// Counted says a count was published at 06:30 with CountValue.
	Counted    bool
	CountValue int64
	Events     []FaultEvent
}

// Stream purposes of fault draws (beyond demand.go's).
const (
	purposeFault uint64 = 0x100 + iota
	purposeFaultEvening
	purposeLatePOS
	purposeOverstate
)

// deptShrink is the daily probability, at ShrinkScale 1, that a unit of a
// series of the department is lost from the shelf.
var deptShrink = map[string]float64{
	"Grocery": 0.01, "Household": 0.006, "Health & Beauty": 0.03, "General Merchandise": 0.02,
}

type faultState struct {
	cfg         *Faults
	day         FaultDay
	record      int64
	pendingSold int64
	phantom     bool
	staleLeft   int
	frozen      int64
	lastPub     int64
	shrinkSince int64
	countPhase  int
	shrinkP     float64
	lateKey     uint64
	// quietTo: no other fault starts on the series up to this day (after
	// an overstated record); lastFault the day the last one did.
	quietTo, lastFault int
}

func (s *Sim) resetFaults() {
	f := s.w.cfg.Faults
	if f == nil || s.w.locs[s.si.loc].Kind != KindStore {
		s.flt = nil
		return
	}
	if s.flt == nil {
		s.flt = &faultState{}
	}
	fs := s.flt
	ev := fs.day.Events[:0]
	*fs = faultState{cfg: f, record: s.onHand, lastPub: s.onHand, lateKey: seriesKey(s.w.cfg.Seed, s.si.loc, -4), quietTo: -1, lastFault: -1 << 30}
	fs.day.Events = ev
	if f.CountEveryDays > 0 {
		fs.countPhase = int(s.si.key % uint64(f.CountEveryDays))
	}
	fs.shrinkP = deptShrink[s.w.items[s.si.sku].Department] * f.ShrinkScale
}

func (fs *faultState) event(s *Sim, d int, kind string, units int64) {
	fs.day.Events = append(fs.day.Events, FaultEvent{Date: s.w.Date(d), Location: s.w.locs[s.si.loc].ID,
		SKU: s.w.items[s.si.sku].ID, Kind: kind, Units: units, Record: fs.record, Shelf: s.onHand})
}

// faultsMorning runs the 06:30 count, before receipts.
func (s *Sim) faultsMorning(d int) {
	fs := s.flt
	fs.day = FaultDay{Events: fs.day.Events[:0]}
	if fs.cfg.CountEveryDays > 0 && d > 0 && (d+fs.countPhase)%fs.cfg.CountEveryDays == 0 {
		// A late POS batch lands before the count.
		fs.record -= fs.pendingSold
		fs.pendingSold = 0
		fs.event(s, d, FaultCount, fs.record-s.onHand)
		e := &fs.day.Events[len(fs.day.Events)-1]
		e.Shrink, e.Phantom = fs.shrinkSince, fs.phantom
		fs.record = s.onHand
		fs.phantom, fs.staleLeft, fs.shrinkSince, fs.pendingSold = false, 0, 0, 0
		fs.day.Counted, fs.day.CountValue = true, s.onHand
	}
}

// faultsReceipts changes today's put-away; received is what the PO lines
// booked. It returns the put-away.
func (s *Sim) faultsReceipts(d int, received int64) int64 {
	fs := s.flt
	put := received
	r := streamAt(s.si.key, d, purposeFault)
	if received > 0 && r.Float64() < fs.cfg.ReceiptErrorRate && d > fs.quietTo {
		switch u := r.Float64(); {
		case u < 0.3:
			put = 0
		case u < 0.8:
			put = received - 1 - int64(r.IntN(int(max(received/2, 1))))
		default:
			put = received + 1 + int64(r.IntN(int(max(received/4, 1))))
		}
		put = max(put, 0)
	}
	fs.record += put
	if put != received {
		s.onHand += put - received
		fs.event(s, d, FaultReceiptError, put-received)
		fs.lastFault = d
	}
	fs.day.MorningPublished = fs.record
	if fs.staleLeft > 0 {
		fs.day.MorningPublished = fs.frozen
	}
	return put
}

// faultsEvening books the day's sales on the record and draws shrink,
// phantom onset, stale snapshots and overstated records, after the day's
// sales; received is what the day's PO lines booked.
func (s *Sim) faultsEvening(d int, sold, received int64, open bool) {
	fs := s.flt
	fs.record -= fs.pendingSold
	fs.pendingSold = 0
	lr := streamAt(fs.lateKey, d, purposeLatePOS)
	if open && sold > 0 && lr.Float64() < fs.cfg.LatePOSRate {
		fs.pendingSold = sold
		fs.event(s, d, FaultLatePOS, sold)
		fs.lastFault = d
	} else {
		fs.record -= sold
	}
	r := streamAt(s.si.key, d, purposeFaultEvening)
	if open && s.onHand > 0 && r.Float64() < fs.shrinkP {
		s.onHand--
		fs.shrinkSince++
		fs.event(s, d, FaultShrink, 1)
	}
	u := r.Float64()
	hadReceiptError := len(fs.day.Events) > 0 && fs.day.Events[0].Kind == FaultReceiptError
	onset := false
	switch {
	case hadReceiptError || fs.phantom || fs.staleLeft > 0 || d <= fs.quietTo:
	case u < fs.cfg.PhantomRate && s.onHand > 0 && d > 0:
		onset = true
		fs.phantom = true
		s.onHand = 0
		fs.event(s, d, FaultPhantom, fs.record)
		fs.lastFault = d
	case u < fs.cfg.PhantomRate+fs.cfg.StaleRate && fs.cfg.StaleDays > 0 && d > 0:
		fs.staleLeft = fs.cfg.StaleDays
		fs.frozen = fs.lastPub
		fs.event(s, d, FaultStale, int64(fs.cfg.StaleDays))
		fs.lastFault = d
		onset = true
	}
	// Its own stream, drawn only when on: the other faults' draws stay.
	// Two quiet days either side keep its evidence its own.
	if o := fs.cfg.OverstateRate; o > 0 && !onset && !fs.phantom && fs.staleLeft == 0 && received == 0 && d > 0 && d > fs.lastFault+2 {
		if r := streamAt(s.si.key, d, purposeOverstate); r.Float64() < o {
			units := 2 + int64(r.IntN(6))
			fs.record += units
			fs.event(s, d, FaultOverstated, units)
			fs.quietTo = d + 2
		}
	}
	fs.day.Published = fs.record
	if fs.staleLeft > 0 {
		fs.day.Published = fs.frozen
		fs.staleLeft--
	}
	fs.lastPub = fs.day.Published
	if fs.record != s.onHand {
		fs.event(s, d, FaultState, 0)
	}
}

// faultsTruth writes faults.jsonl lines.
type faultsTruth struct {
	f   *truthFile
	buf []byte
}

func (tw *truthWriter) openFaults() error {
	final := filepath.Join(tw.dir, TruthFaults)
	f, err := os.Create(final + ".tmp")
	if err != nil {
		return fmt.Errorf("create truth file: %w", err)
	}
	tf := &truthFile{final: final, tmp: final + ".tmp", f: f, w: bufio.NewWriterSize(f, 1<<20)}
	tw.files = append(tw.files, tf)
	tw.flt = tf
	return nil
}

func (tw *truthWriter) faults(evs []FaultEvent) {
	if tw.flt == nil {
		return
	}
	for i := range evs {
		b, err := json.Marshal(&evs[i])
		if err == nil {
			b = append(b, '\n')
			_, err = tw.flt.w.Write(b)
		}
		if err != nil && tw.err == nil {
			tw.err = fmt.Errorf("write %s: %w", tw.flt.tmp, err)
		}
	}
}

// ReadFaults reads faults.jsonl from a truth directory.
func ReadFaults(truthDir string) ([]FaultEvent, error) {
	f, err := os.Open(filepath.Join(truthDir, TruthFaults))
	if err != nil {
		return nil, fmt.Errorf("read fault truth: %w", err)
	}
	defer f.Close()
	var out []FaultEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e FaultEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", TruthFaults, len(out)+1, err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// published is the on hand a snapshot shows for r: the record under
// faults (morning: after receipts), else onHand.
func published(onHand int64, r *DayResult, morning bool) int64 {
	switch {
	case r.Fault == nil:
		return onHand
	case morning:
		return r.Fault.MorningPublished
	}
	return r.Fault.Published
}

// counts renders the day's 06:30 cycle counts of l as one partial snapshot.
func (rd *renderer) counts(out *locDay, l *Location, date schema.Date) {
	n := 0
	for i := range rd.results {
		if f := rd.results[i].Fault; f != nil && f.Counted {
			n++
		}
	}
	if n == 0 {
		return
	}
	snap := fmt.Sprintf("%s%s-%s", CountSnapshotPrefix, l.ID, ymd(date))
	at := localTime(l, date, 6*3600+30*60)
	for sku := range rd.results {
		if f := rd.results[sku].Fault; f != nil && f.Counted {
			out.events = append(out.events, rd.inventory(l, sku, snap, schema.SnapshotPartial, n, f.CountValue, 0, 0, at))
		}
	}
}
