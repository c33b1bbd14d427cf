package reconcile

import (
	"fmt"
	"math"

	"github.com/shelflake/shelflake/schema"
)

// Day is what the lake says of one store-SKU on one business date.
type Day struct {
	// Open: the store traded that day (it rang any POS transaction).
	Open bool
	// HasSnap: a closing full snapshot published Snap.
	HasSnap bool
	Snap    int64
	// HasCount: a cycle count published Count before the day's receipts.
	HasCount bool
	Count    int64
	// Sold is net units sold (sale lines; a voided transaction moved no
	// stock; restocked returns count as
	// negative), rung before the day's closing snapshot or after the
	// previous day's.
	Sold int64
	// Received is the day's qty_received deltas of the PO lines.
	Received int64
	// Promo: the item was on promotion.
	Promo bool
}

// Series is one store-SKU's days from From (Days[i] is From+i).
type Series struct {
	Location, SKU string
	From          schema.Date
	Days          []Day
	// Item parameters from item_locations (zero when unknown).
	UnitCost, UnitPrice schema.Money
	Currency            string
	LeadTimeDays        int
}

// Finding is one problem seen in a series.
type Finding struct {
	Reason string
	// Onset is the day index the problem started; Seen the day index it
	// was recognised on; Open whether it still holds on the last day.
	Onset, Seen int
	Open        bool
	// Units: the variance (record − expected; a count's loss).
	Units       int64
	Probability float64 // phantom: P(zero run); else 0
	Evidence    string
	Record      int64 // the latest published on hand at Seen
	Expected    int64 // the reconciled estimate at Seen
}

// Params tune detection.
type Params struct {
	// PhantomP: a zero-sales run with a Poisson probability below it, at
	// the item's rate, with stock on record, is phantom stock (default 3e-4).
	PhantomP float64
	// StaleDays: this many days on which the snapshot stood still while
	// POS sold make it stale (default 2: a late POS batch freezes it for
	// one).
	StaleDays int
	// RateDays: the window of open in-stock days the rate is estimated
	// over (default 28).
	RateDays int
	// PromoLift multiplies the rate on promotion days (default 1.5).
	PromoLift float64
	// MinZeroDays: a phantom needs at least this many open zero-sales
	// days, whatever the rate (default 4).
	MinZeroDays int
}

func (p Params) withDefaults() Params {
	if p.PhantomP == 0 {
		p.PhantomP = 3e-4
	}
	if p.StaleDays == 0 {
		p.StaleDays = 2
	}
	if p.RateDays == 0 {
		p.RateDays = 28
	}
	if p.MinZeroDays == 0 {
		p.MinZeroDays = 4
	}
	if p.PromoLift == 0 {
		p.PromoLift = 1.5
	}
	return p
}

// Detect reconciles a series day by day and returns its findings in the
// order seen. The expected on hand carries forward from the last trusted
// value (a count, or a closing snapshot that agreed with the expectation):
// expected = trusted + received − sold. A variance that disappears again
// is timing (stale when the snapshot stood still for StaleDays selling
// days); one that persists for two snapshots is a permanent shift: a
// receipt mismatch when the episode began on a receipt day, else an unexplained
// loss (negative) or an overstated record (positive: it rose with no receipt
// or return booked). A count below the
// previous snapshot is an unexplained loss.
func Detect(s *Series, p Params) []Finding {
	p = p.withDefaults()
	var out []Finding
	n := len(s.Days)
	var exp, prevSnap int64
	// over: units the record stands above exp since an overstated finding,
	// until the next count.
	var over int64
	// lastClosing: the last closing snapshot published.
	var lastClosing int64
	started := false
	// The open episode: a run of snapshots that disagree with exp.
	type episode struct {
		on                     bool
		start                  int
		lastV                  int64
		frozenSelling          int
		received               bool
		staleEmitted           int // index into out, -1
		expAtStart, snapBefore int64
		// closingBefore: the closing snapshot before the episode (a
		// count does not replace it).
		closingBefore int64
	}
	ep := episode{staleEmitted: -1}
	closeEp := func() { ep = episode{staleEmitted: -1} }
	for i := range n {
		d := &s.Days[i]
		if d.HasCount {
			if ep.on && ep.received && d.Count == prevSnap && ep.frozenSelling == 0 {
				// The count agrees with the record: the open variance was
				// the receipt's.
				out = append(out, Finding{Reason: schema.ReasonReceiptMismatch, Onset: ep.start, Seen: i, Units: ep.lastV,
					Evidence: fmt.Sprintf("on hand off by %+d units against receipts booked since %s; count %d confirms the record",
						ep.lastV, s.From.AddDays(ep.start), d.Count),
					Record: prevSnap, Expected: exp})
				exp = prevSnap
			}
			if ep.on && !ep.received && ep.lastV > 0 && ep.frozenSelling == 0 && d.Count == exp && prevSnap > exp {
				// The count agrees with POS, not with the record: the
				// record had risen with nothing booked.
				out = append(out, Finding{Reason: schema.ReasonOverstatedAfterCount, Onset: ep.start, Seen: i, Units: ep.lastV,
					Evidence: fmt.Sprintf("record rose %d units with no receipt or return booked since %s; count %d confirms POS, not the record %d",
						ep.lastV, s.From.AddDays(ep.start), d.Count, prevSnap),
					Record: prevSnap, Expected: d.Count})
			}
			if started && exp-d.Count > 0 {
				out = append(out, Finding{Reason: schema.ReasonUnexplainedLoss, Onset: i, Seen: i, Units: exp - d.Count,
					Evidence: fmt.Sprintf("count %d vs expected %d (record %d): %d units unexplained", d.Count, exp, prevSnap, exp-d.Count),
					Record:   d.Count, Expected: d.Count}) // the count corrected the record
			}
			if ep.staleEmitted >= 0 {
				out[ep.staleEmitted].Seen = i
			}
			closeEp()
			exp, prevSnap, started, over = d.Count, d.Count, true, 0
		}
		if !started {
			if d.HasSnap {
				exp, prevSnap, started, lastClosing = d.Snap, d.Snap, true, d.Snap
			}
			continue
		}
		exp += d.Received - d.Sold
		if !d.HasSnap {
			continue
		}
		v := d.Snap - exp - over
		// A snapshot that stood still while POS sold.
		frozen := d.Snap == prevSnap && d.Sold > 0
		switch {
		case v == 0:
			if ep.on {
				if ep.staleEmitted < 0 {
					reason := schema.ReasonTiming
					if ep.frozenSelling >= p.StaleDays {
						reason = schema.ReasonStaleSnapshot
					}
					out = append(out, Finding{Reason: reason, Onset: ep.start, Seen: i, Units: ep.lastV,
						Evidence: fmt.Sprintf("record %+d vs POS from %s, caught up on %s", ep.lastV, s.From.AddDays(ep.start), s.From.AddDays(i)),
						Record:   d.Snap, Expected: exp})
				}
				closeEp()
			}
		case !ep.on:
			ep = episode{on: true, start: i, lastV: v, received: d.Received != 0, staleEmitted: -1, closingBefore: lastClosing}
			if frozen {
				ep.frozenSelling = 1
			}
		default:
			if frozen {
				ep.frozenSelling++
			}
			// A record risen with nothing booked stays up on a day nothing
			// sold (a late POS batch would have landed); one that never
			// moved from the closing before the episode is a snapshot
			// standing still, not a rise.
			risen := v > 0 && !ep.received && d.Sold == 0 && d.Received == 0 && d.Snap != ep.closingBefore
			if v == ep.lastV && ep.frozenSelling == 0 && (d.Snap != prevSnap || risen) {
				// A permanent shift: the record moved by v for good.
				reason := schema.ReasonReceiptMismatch
				ev := fmt.Sprintf("on hand off by %+d units against receipts booked since %s", v, s.From.AddDays(ep.start))
				if !ep.received && v < 0 {
					reason = schema.ReasonUnexplainedLoss
					ev = fmt.Sprintf("record fell %d units more than POS explains since %s", -v, s.From.AddDays(ep.start))
				} else if !ep.received {
					reason = schema.ReasonOverstatedAfterCount
					ev = fmt.Sprintf("record rose %d units above the last count and POS with no receipt or return booked since %s", v, s.From.AddDays(ep.start))
				}
				out = append(out, Finding{Reason: reason, Onset: ep.start, Seen: i, Units: v, Evidence: ev, Record: d.Snap, Expected: exp})
				if reason == schema.ReasonOverstatedAfterCount {
					over += v // the shelf did not get them: exp stays
				} else {
					exp = d.Snap
				}
				closeEp()
				break
			}
			ep.lastV = v
			if ep.frozenSelling >= p.StaleDays && ep.staleEmitted < 0 {
				out = append(out, Finding{Reason: schema.ReasonStaleSnapshot, Onset: ep.start, Seen: i, Open: true, Units: v,
					Evidence: fmt.Sprintf("snapshot unchanged at %d for %d selling days; POS sold %d since", d.Snap, ep.frozenSelling, v),
					Record:   d.Snap, Expected: exp})
				ep.staleEmitted = len(out) - 1
			}
		}
		if d.Snap < 0 && (len(out) == 0 || out[len(out)-1].Reason != schema.ReasonNegativeOnHand || !out[len(out)-1].Open) {
			out = append(out, Finding{Reason: schema.ReasonNegativeOnHand, Onset: i, Seen: i, Open: true, Units: d.Snap,
				Evidence: fmt.Sprintf("record on hand %d", d.Snap), Record: d.Snap, Expected: max(exp, 0)})
		}
		prevSnap, lastClosing = d.Snap, d.Snap
	}
	if ep.on && ep.staleEmitted < 0 && n > 0 {
		out = append(out, Finding{Reason: schema.ReasonTiming, Onset: ep.start, Seen: n - 1, Open: true, Units: ep.lastV,
			Evidence: fmt.Sprintf("record %+d vs POS since %s, not caught up", ep.lastV, s.From.AddDays(ep.start)),
			Record:   prevSnap, Expected: exp})
	}
	// Stale and negative findings close when a later snapshot moves.
	for i := range out {
		f := &out[i]
		if f.Reason == schema.ReasonStaleSnapshot && f.Open && ep.staleEmitted != i {
			f.Open = false
		}
		if f.Reason == schema.ReasonNegativeOnHand && (!s.Days[n-1].HasSnap || s.Days[n-1].Snap >= 0) {
			f.Open = false
		}
	}
	return append(out, phantoms(s, p)...)
}

// rate returns the item's mean units sold a day, and the share of days
// with no sale, over the last days open days before day i on which the
// previous snapshot showed stock (0, 1 with fewer than 7 such days).
func rate(s *Series, i, days int) (lam, zeroShare float64) {
	var sum int64
	n, zeros := 0, 0
	for j := i - 1; j >= 1 && n < days; j-- {
		d := &s.Days[j]
		if !d.Open || !s.Days[j-1].HasSnap || s.Days[j-1].Snap <= 0 {
			continue
		}
		sum += d.Sold
		n++
		if d.Sold <= 0 {
			zeros++
		}
	}
	if n < 7 {
		return 0, 1
	}
	return float64(sum) / float64(n), float64(zeros+1) / float64(n+2)
}

// phantoms finds runs of zero-sales open days with stock on record whose
// Poisson probability at the item's rate is below PhantomP.
func phantoms(s *Series, p Params) []Finding {
	var out []Finding
	n := len(s.Days)
	start := -1
	var lam, logZero float64
	var logP float64
	emitted := false
	for i := 1; i < n; i++ {
		d := &s.Days[i]
		prev := &s.Days[i-1]
		stocked := prev.HasSnap && prev.Snap > 0 && !d.HasCount
		if !d.Open {
			continue
		}
		if d.Sold > 0 || !stocked || d.Received > 0 {
			if emitted {
				out[len(out)-1].Open = false
			}
			start, emitted = -1, false
			continue
		}
		if start < 0 {
			start, logP = i, 0
			var z float64
			lam, z = rate(s, i, p.RateDays)
			logZero = math.Log(z)
		}
		// A day's chance of no sale: Poisson at the rate (lifted on
		// promotion days), but never below the share of zero days the
		// item showed in stock (demand is over-dispersed).
		l := lam
		if d.Promo {
			l *= p.PromoLift
		}
		logP += max(-l, logZero)
		if !emitted && lam > 0 && i-start+1 >= p.MinZeroDays && logP < math.Log(p.PhantomP) {
			pr := math.Exp(logP)
			out = append(out, Finding{Reason: schema.ReasonPhantomStock, Onset: start, Seen: i, Open: true, Probability: pr,
				Units: prev.Snap,
				Evidence: fmt.Sprintf("no sale for %d open days since %s at %.2f/day with %d on record: P=%.1e",
					i-start+1, s.From.AddDays(start), lam, prev.Snap, pr),
				Record: prev.Snap, Expected: 0})
			emitted = true
		}
		if emitted {
			f := &out[len(out)-1]
			f.Probability = math.Exp(logP)
			f.Record = d.Snap
		}
	}
	return out
}

// rateAt exposes rate for the queue.
func rateAt(s *Series, days int) float64 {
	lam, _ := rate(s, len(s.Days), days)
	return lam
}
