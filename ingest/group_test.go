package ingest

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestIngestRefusesANewGroupOnALakeAnotherGroupWrote: changing --group on
// a lake would re-ingest the retained topics (every record twice); New
// refuses with the other group's name unless NewGroupOK.
func TestIngestRefusesANewGroupOnALakeAnotherGroupWrote(t *testing.T) {
	ctx := context.Background()
	c := startCluster(t, 2)
	addr := c.ListenAddrs()[0]
	ds := produceWorkload(t, newProducer(t, addr), 1, 0, 200, 2, 0)
	l, _ := openLocalLake(t)
	opts := func(group string, newOK bool) Options {
		return Options{Kafka: Kafka{Brokers: []string{addr}}, Lake: NewLake(l), Group: group, NewGroupOK: newOK,
			FlushInterval: 200 * time.Millisecond, SessionTimeout: time.Second, Logger: testLogger(t)}
	}
	_, stop := runIngester(t, opts("first", false))
	waitUntil(t, 60*time.Second, 100*time.Millisecond, "the lake to hold every record", func() bool {
		return caughtUp(t, ctx, l, addr, "first")
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, readLake(t, ctx, l), ds)

	for _, tc := range []struct {
		name, group string
		newOK       bool
		wantErr     string
	}{
		{"the same group resumes", "first", false, ""},
		{"another group is refused, naming the group that wrote the lake", "second", false, `ingested by group "first", and group "second" has no offsets in it`},
		{"another group is accepted with NewGroupOK", "second", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ing, err := New(ctx, opts(tc.group, tc.newOK))
			if tc.wantErr == "" {
				if err != nil || ing == nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "--new-group-ok") {
				t.Fatalf("New: %v, want an error containing %q and the way out", err, tc.wantErr)
			}
		})
	}
	// Refusing wrote nothing: the lake still holds each record once.
	checkExactlyOnce(t, readLake(t, ctx, l), ds)
}

func TestSplitAppID(t *testing.T) {
	for _, tc := range []struct {
		app, group, topic string
		ok                bool
	}{
		{"g/pos.transactions/3", "g", "pos.transactions", true},
		{"team/a/pos.transactions/0", "team/a", "pos.transactions", true},
		{"forecast/2026-05-05", "", "", false},
		{"nogroup", "", "", false},
	} {
		g, tp, ok := splitAppID(tc.app)
		if g != tc.group || tp != tc.topic || ok != tc.ok {
			t.Errorf("splitAppID(%q) = %q, %q, %v", tc.app, g, tp, ok)
		}
	}
}
