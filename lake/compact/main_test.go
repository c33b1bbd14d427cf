package compact

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/schema/world"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testLogger logs through t.Log, so output shows only for failing tests.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tLogWriter struct{ t testing.TB }

func (w tLogWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

// openLake opens a local lake in a temporary directory.
func openLake(t testing.TB, dir string) *lake.Lake {
	t.Helper()
	l, err := lake.Open(context.Background(), dir, lake.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// smallWorld is the world most tests load: 3 stores, 1 DC, 12 SKUs, 10 days.
var smallWorld = world.Config{Seed: 7, Stores: 3, SKUs: 12, Days: 10}

// loadSmall loads a world into a new lake as ingest would, in files of
// flush windows of world time.
func loadSmall(t testing.TB, cfg world.Config, flush time.Duration, resendEvery int) (*lake.Lake, loadStats, string) {
	t.Helper()
	dir := t.TempDir()
	l := openLake(t, dir)
	st, err := loadWorld(context.Background(), l, worldLoad{Config: cfg, FlushEvery: flush, ResendEvery: resendEvery, TruthDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return l, st, dir
}
