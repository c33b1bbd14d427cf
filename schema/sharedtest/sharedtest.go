// Package sharedtest finds the project's shared test data: the directory
// ../shared beside the module root (the directory holding go.mod), with
// real retail exports (data/online-retail) and the Delta protocol's golden
// tables (delta-golden). Tests and benchmarks read them in place; they are
// never copied into the repository.
package sharedtest

import (
	"os"
	"path/filepath"
	"testing"
)

// Path returns ../shared/<elem...> relative to the module root. If it does
// not exist the test is skipped, or fails when CI=true (CI always has
// ../shared beside the clone, so a missing file there is a failure).
func Path(t testing.TB, elem ...string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
	p := filepath.Join(append([]string{dir, "..", "shared"}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("shared test data missing at %s (CI=true): %v", p, err)
		}
		t.Skipf("shared test data missing at %s: %v", p, err)
	}
	return p
}

// OnlineRetail returns the UCI Online Retail export
// (../shared/data/online-retail/online_retail.csv.gz), as Path does.
func OnlineRetail(t testing.TB) string {
	t.Helper()
	return Path(t, "data", "online-retail", "online_retail.csv.gz")
}
