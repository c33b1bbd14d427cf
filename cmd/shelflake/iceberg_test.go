package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/lake/iceberg"
	"github.com/shelflake/shelflake/lake/objstore"
	"github.com/shelflake/shelflake/schema"
)

// icebirdVersion is the npm release of the independent Iceberg reader the
// tests read the lake with.
const icebirdVersion = "0.3.1"

// installIcebird installs icebird (pinned) with npm into the user cache
// directory once and returns the path of its module entry point.
func installIcebird(t *testing.T) string {
	t.Helper()
	requireTool(t, "node")
	npm := requireTool(t, "npm")
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cache, "shelflake-test", "icebird-"+icebirdVersion)
	entry := filepath.Join(dir, "node_modules", "icebird", "src", "index.js")
	if _, err := os.Stat(entry); err == nil {
		return entry
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), npm, "install", "--no-audit", "--no-fund", "--prefix", dir, "icebird@"+icebirdVersion)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install icebird@%s: %v\n%s", icebirdVersion, err, out)
	}
	return entry
}

// appendPOSIceberg commits rows of one day to pos_lines in commits of files
// of perFile rows, through a lake whose commits publish Iceberg metadata
// (as ingest's do).
func appendPOSIceberg(t *testing.T, dir string, day schema.Date, commits, perFile int) {
	t.Helper()
	ctx := t.Context()
	opts, done, err := withIceberg(dir, lake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	l, err := lake.Open(ctx, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tb := schema.TablePOSLines()
	dt, err := l.Table(ctx, tb)
	if err != nil {
		t.Fatal(err)
	}
	for c := range commits {
		var adds []delta.Add
		for f := range 3 {
			var rows []schema.PosLineRow
			for i := range perFile {
				n := (c*3+f)*perFile + i
				rows = append(rows, schema.PosLineRow{
					TransactionID: fmt.Sprintf("ICE%05d", n), LineNo: 1, StoreID: "S0001", RegisterID: "R01", TxnType: "sale",
					BusinessDate: day, EventTime: day.Time().Add(time.Duration(n) * time.Second), Currency: "USD",
					SKU: fmt.Sprintf("SKU%03d", n%5), Quantity: int64(n%7 + 1), UnitPrice: 10000, LineTotal: 10000,
				})
			}
			a, err := lake.WriteFiles(ctx, l, tb, day, rows, lake.WriteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			adds = append(adds, a...)
		}
		snap, err := dt.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dt.Commit(ctx, snap, delta.Txn{Isolation: delta.Append, Adds: adds}); err != nil {
			t.Fatal(err)
		}
	}
}

type icebirdRequest struct {
	TableURL         string `json:"tableUrl"`
	MetadataFileName string `json:"metadataFileName"`
	Column           string `json:"column"`
	Partition        string `json:"partition,omitempty"`
}

type icebirdResult struct {
	icebirdRequest
	Count            int64  `json:"count"`
	Sum              string `json:"sum"`
	MissingPartition int64  `json:"missingPartition"`
}

// sumColumn picks a numeric column of the schema to sum.
func sumColumn(s iceberg.Schema) string {
	for _, f := range s.Fields {
		if f.Type == "long" {
			return f.Name
		}
	}
	for _, f := range s.Fields {
		if f.Type == "int" {
			return f.Name
		}
	}
	return ""
}

// TestIcebergReadByIcebird builds a demo lake (generated world, embedded
// broker, ingest, compaction, unified tables, forecast), publishes it as
// Iceberg, appends to pos_lines through a publishing lake, compacts, and
// reads every table with icebird, an independent Iceberg reader, at every
// snapshot its metadata retains: row counts and a column's sum equal
// shelflake sql's at the same Delta version.
func TestIcebergReadByIcebird(t *testing.T) {
	icebird := installIcebird(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	demo := filepath.Join(t.TempDir(), "demo")
	if out, err := runCLI(t, ctx, "demo", "--dir", demo, "--stores", "2", "--skus", "8", "--days", "30"); err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	dir := filepath.Join(demo, "lake")
	out, err := runCLI(t, ctx, "iceberg", "sync", "--lake", dir)
	if err != nil {
		t.Fatalf("iceberg sync: %v\n%s", err, out)
	}
	for _, name := range []string{"pos_lines", "sales_daily", "forecasts", "rejects"} {
		if !strings.Contains(out, name) {
			t.Errorf("iceberg sync did not publish %s:\n%s", name, out)
		}
	}
	day := schema.NewDate(2026, 6, 1)
	appendPOSIceberg(t, dir, day, 4, 20) // 12 small files: compaction merges them
	if out, err := runCLI(t, ctx, "compact", "--lake", dir, "--tables", "pos_lines", "--temp-dir", t.TempDir()); err != nil {
		t.Fatalf("compact: %v\n%s", err, out)
	}

	b, err := objstore.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	type check struct {
		table   string
		version int64
		records string
	}
	var reqs []icebirdRequest
	var checks []check
	ops := map[string]bool{}
	for _, tb := range append(schema.AllTables(), schema.ForecastTables()...) {
		prefix := lake.TablePrefix(tb)
		v, found, err := iceberg.LatestVersion(ctx, b, prefix)
		if err != nil {
			t.Fatal(err)
		}
		if !found {
			continue
		}
		m, err := iceberg.ReadMetadata(ctx, b, prefix, v)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Validate(); err != nil {
			t.Errorf("%s v%d: %v", tb.Name, v, err)
		}
		sch := m.Schemas[len(m.Schemas)-1]
		col := sumColumn(sch)
		for _, s := range m.Snapshots {
			dv, err := s.DeltaVersion()
			if err != nil {
				t.Fatal(err)
			}
			if tb.Name == "pos_lines" {
				ops[s.Summary["operation"]] = true
			}
			checks = append(checks, check{tb.Name, dv, s.Summary["total-records"]})
			if s.Summary["total-records"] == "0" {
				continue // icebird refuses a snapshot without data files
			}
			part := ""
			if len(m.PartitionSpecs[0].Fields) > 0 {
				part = "dt"
			}
			reqs = append(reqs, icebirdRequest{TableURL: m.Location, MetadataFileName: iceberg.MetadataFileName(dv), Column: col, Partition: part})
		}
	}
	if !ops["append"] || !ops["replace"] {
		t.Errorf("pos_lines snapshots' operations %v: want the sync's and the hook's appends and the compaction's replace", ops)
	}
	if len(checks) < 13 {
		t.Fatalf("%d snapshots published, want every table and pos_lines' later versions", len(checks))
	}

	reqFile := filepath.Join(t.TempDir(), "requests.json")
	raw, _ := json.Marshal(reqs)
	if err := os.WriteFile(reqFile, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "node", filepath.Join("testdata", "icebird_read.mjs"), icebird, reqFile)
	got, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("icebird: %v\n%s", err, stderr)
	}
	read := map[string]icebirdResult{}
	for line := range strings.SplitSeq(strings.TrimSpace(string(got)), "\n") {
		var r icebirdResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("icebird output %q: %v", line, err)
		}
		read[r.TableURL+"/"+r.MetadataFileName] = r
	}
	for i, r := range reqs {
		name := filepath.Base(r.TableURL)
		dv := strings.TrimSuffix(strings.TrimPrefix(r.MetadataFileName, "v"), ".metadata.json")
		sum := "0" // a table without integer columns: counts only
		if r.Column != "" {
			sum = fmt.Sprintf("coalesce(sum(%q), 0)", r.Column)
		}
		out, err := runCLI(t, ctx, "sql", "--lake", dir, "--version", name+"="+dv, "--format", "csv",
			"-c", fmt.Sprintf(`SELECT count(*), %s FROM %q`, sum, name))
		if err != nil {
			t.Fatalf("sql %s at version %s: %v", name, dv, err)
		}
		recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil || len(recs) != 2 {
			t.Fatalf("sql output %q: %v", out, err)
		}
		ib, ok := read[r.TableURL+"/"+r.MetadataFileName]
		if !ok {
			t.Fatalf("icebird gave nothing for request %d %+v", i, r)
		}
		if ib.MissingPartition > 0 {
			t.Errorf("%s at delta version %s: icebird reads %d of %d rows without dt", name, dv, ib.MissingPartition, ib.Count)
		}
		if want := fmt.Sprint(ib.Count); recs[1][0] != want || recs[1][1] != ib.Sum {
			t.Errorf("%s at delta version %s: icebird reads %d rows, sum(%s) %s; shelflake sql %s rows, sum %s",
				name, dv, ib.Count, r.Column, ib.Sum, recs[1][0], recs[1][1])
		}
	}
	t.Logf("icebird read %d table snapshots, each as shelflake sql reads its Delta version", len(reqs))
}
