package erptest

import (
	"strings"
	"testing"
	"time"

	"github.com/shelflake/shelflake/forecast/writeback"
	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/schema"
)

// The helpers below serve the tests of every ERP adapter: a lake to
// deliver from, a deliverer of one channel, and the write-back log as the
// adapter left it.

// OpenLake opens a lake in a temporary directory, closed at the test's end.
func OpenLake(t testing.TB) *lake.Lake {
	t.Helper()
	l, err := lake.Open(t.Context(), t.TempDir(), lake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// Deliverer is a writeback.Deliverer of l through ch alone.
func Deliverer(t testing.TB, l *lake.Lake, ch writeback.Channel) *writeback.Deliverer {
	t.Helper()
	d, err := writeback.New(l, writeback.Options{Channels: []writeback.Channel{ch}})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// LatestLog returns the latest erp_writeback_log row of each document key
// on channel.
func LatestLog(t testing.TB, l *lake.Lake, channel string) map[string]schema.ERPWritebackLogRow {
	t.Helper()
	rows, _, err := writeback.ReadLog(t.Context(), l)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]schema.ERPWritebackLogRow{}
	for _, r := range rows {
		if r.Channel != channel {
			continue
		}
		if p, ok := out[r.DocumentKey]; !ok || r.LastAttemptAt.After(p.LastAttemptAt) {
			out[r.DocumentKey] = r
		}
	}
	return out
}

// RejectedOnce delivers docs through ch from a new lake and checks what a
// permanent refusal of docs[0] must give: it is logged rejected with an
// error containing reason after exactly wantCreates creates in the ERP
// (creates: the ERP's creates by document key), nothing waited for a
// retry (waits: the adapter's sleeps), and every other document accepted.
func RejectedOnce(t *testing.T, ch writeback.Channel, docs []*writeback.Document, reason string,
	creates func() map[string]int, wantCreates int, waits func() []time.Duration) {
	t.Helper()
	l := OpenLake(t)
	rep, err := Deliverer(t, l, ch).Deliver(t.Context(), docs)
	if err != nil {
		t.Fatal(err)
	}
	row := LatestLog(t, l, ch.Name())[docs[0].ExternalRef]
	if row.Status != schema.WritebackRejected || !strings.Contains(row.Error, reason) {
		t.Errorf("status %s, error %q: want rejected with %q", row.Status, row.Error, reason)
	}
	if n := creates()[docs[0].ExternalRef]; n != wantCreates {
		t.Errorf("%d creates of the bad document, want %d (no retries)", n, wantCreates)
	}
	if w := waits(); len(w) != 0 {
		t.Errorf("waited %v: a permanent failure was retried", w)
	}
	if rep.Rejected != 1 || rep.Accepted != len(docs)-1 {
		t.Errorf("report %+v: the good documents must go through", rep)
	}
}
