package compact

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/schema"
	"github.com/shelflake/shelflake/schema/world"
)

// duck opens an in-memory DuckDB with one connection, closed at the end of
// the test.
func duck(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec("SET TimeZone = 'UTC'"); err != nil {
		t.Fatal(err)
	}
	return db
}

// views creates one DuckDB view per table over its latest snapshot, as
// `shelflake sql` does.
func views(t testing.TB, l *lake.Lake, db *sql.DB, tables ...*schema.Table) {
	t.Helper()
	ctx := context.Background()
	for _, tb := range tables {
		dt, err := l.Table(ctx, tb)
		if err != nil {
			t.Fatal(err)
		}
		snap, err := dt.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		files, release, err := l.LocalFiles(ctx, tb.Name, snap, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(release)
		scan, err := lake.DuckDBScan(tb, files)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec("CREATE OR REPLACE VIEW " + tb.Name + " AS " + scan); err != nil {
			t.Fatalf("view %s: %v", tb.Name, err)
		}
	}
}

// mismatches runs a query listing disagreements and fails the test with
// the first few.
func mismatches(t *testing.T, db *sql.DB, what, query string) {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var bad []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		bad = append(bad, fmt.Sprint(vals...))
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if len(bad) > 0 {
		t.Errorf("%s: %d disagreements (%v), e.g.\n%s", what, len(bad), cols, strings.Join(bad[:min(len(bad), 5)], "\n"))
	}
}

// count runs a query returning one integer.
func count(t testing.TB, db *sql.DB, query string) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func build(t testing.TB, l *lake.Lake) UnifiedReport {
	t.Helper()
	b, err := NewBuilder(l, UnifiedOptions{Logger: testLogger(t), TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := b.Build(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// tableVersions returns each unified table's latest version.
func tableVersions(t testing.TB, l *lake.Lake) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, tb := range schema.UnifiedTables() {
		dt, err := l.Table(context.Background(), tb)
		if err != nil {
			t.Fatal(err)
		}
		s, err := dt.Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out[tb.Name] = s.Version()
	}
	return out
}

var worldForUnified = world.Config{Seed: 11, Stores: 3, SKUs: 15, Days: 21}

func TestUnifiedTablesAgreeWithTheRawTablesAndTheWorldsTruth(t *testing.T) {
	dir := t.TempDir()
	l := openLake(t, dir)
	truth := t.TempDir()
	st, err := loadWorld(context.Background(), l, worldLoad{Config: worldForUnified, FlushEvery: 30 * time.Minute, ResendEvery: 5, TruthDir: truth})
	if err != nil {
		t.Fatal(err)
	}
	if st.Resent == 0 {
		t.Fatal("nothing resent")
	}
	rep := build(t, l)
	for _, tr := range rep.Tables {
		if tr.UpToDate || tr.Rows == 0 || len(tr.Partitions) == 0 {
			t.Errorf("%s: built nothing: %+v", tr.Table, tr)
		}
	}
	db := duck(t)
	views(t, l, db, schema.AllTables()...)
	csv := func(name string) string {
		return "read_csv('" + filepath.Join(truth, name) + "', header = true, columns = {'date': 'DATE', 'loc': 'VARCHAR', 'sku': 'VARCHAR', " +
			"'demand': 'BIGINT', 'sold': 'BIGINT', 'lost': 'BIGINT', 'returned': 'BIGINT', 'received': 'BIGINT', 'on_hand': 'BIGINT', 'on_order': 'BIGINT'})"
	}
	if _, err := db.Exec("CREATE VIEW truth AS SELECT * FROM " + csv(world.TruthDemand) + " UNION ALL SELECT * FROM " + csv(world.TruthDCDemand)); err != nil {
		t.Fatal(err)
	}

	// sales_daily: per store and day, against the raw lines de-duplicated
	// with DISTINCT ON, and per store, SKU and day against the truth.
	mismatches(t, db, "sales_daily vs pos_lines", `
		WITH l AS (SELECT DISTINCT ON (transaction_id, line_no) * FROM pos_lines),
		raw AS (
			SELECT business_date AS dt, store_id,
				sum(CASE WHEN txn_type = 'sale' THEN quantity ELSE 0 END) AS sold,
				sum(CASE WHEN txn_type = 'return' THEN -quantity ELSE 0 END) AS returned,
				sum(CASE WHEN txn_type = 'sale' THEN quantity * unit_price ELSE 0 END) AS gross,
				sum(CASE WHEN txn_type = 'sale' THEN discount ELSE 0 END) AS disc,
				sum(CASE txn_type WHEN 'sale' THEN line_total - tax WHEN 'return' THEN line_total + tax ELSE 0 END) AS net,
				count(DISTINCT CASE WHEN txn_type = 'sale' THEN transaction_id || '/' || sku END) AS txns
			FROM l GROUP BY ALL),
		uni AS (
			SELECT dt, store_id, sum(units_sold) AS sold, sum(units_returned) AS returned, sum(gross_sales) AS gross,
				sum(discounts) AS disc, sum(net_sales) AS net, sum(transactions) AS txns
			FROM sales_daily GROUP BY ALL)
		SELECT * FROM raw FULL JOIN uni USING (dt, store_id)
		WHERE raw.sold IS DISTINCT FROM uni.sold OR raw.returned IS DISTINCT FROM uni.returned
			OR raw.gross IS DISTINCT FROM uni.gross OR raw.disc IS DISTINCT FROM uni.disc
			OR raw.net IS DISTINCT FROM uni.net OR raw.txns IS DISTINCT FROM uni.txns`)
	mismatches(t, db, "sales_daily vs the world's truth", `
		SELECT * FROM (SELECT date AS dt, loc AS store_id, sku, sold, returned FROM truth WHERE loc LIKE 'S%') tr
		FULL JOIN sales_daily s USING (dt, store_id, sku)
		WHERE coalesce(tr.sold, 0) <> coalesce(s.units_sold, 0) OR coalesce(tr.returned, 0) <> coalesce(s.units_returned, 0)`)
	if n := count(t, db, "SELECT count(*) FROM sales_daily WHERE net_sales <> gross_sales - discounts - returns"); n != 0 {
		t.Errorf("%d rows where net_sales is not gross − discounts − returns", n)
	}

	// inventory_daily: every location, SKU and day, equal to the truth's
	// close and to the latest raw row of the day.
	if n, want := count(t, db, "SELECT count(*) FROM inventory_daily"), int64(worldForUnified.Days*(worldForUnified.Stores+1)*worldForUnified.SKUs); n != want {
		t.Errorf("inventory_daily has %d rows, want %d", n, want)
	}
	mismatches(t, db, "inventory_daily vs the world's truth", `
		SELECT * FROM (SELECT date AS dt, loc AS location_id, sku, on_hand, on_order FROM truth) tr
		FULL JOIN inventory_daily i USING (dt, location_id, sku)
		WHERE tr.on_hand IS DISTINCT FROM i.on_hand OR tr.on_order IS DISTINCT FROM i.in_transit`)
	mismatches(t, db, "inventory_daily vs inventory_snapshots", `
		WITH raw AS (
			SELECT dt, sum(oh) AS on_hand, count(*) FILTER (WHERE oh <= 0) AS out FROM (
				SELECT dt, location_id, sku, arg_max(on_hand, as_of) AS oh FROM inventory_snapshots GROUP BY ALL)
			GROUP BY dt),
		uni AS (SELECT dt, sum(on_hand) AS on_hand FROM inventory_daily GROUP BY dt),
		so AS (SELECT dt, count(*) AS out FROM stockouts GROUP BY dt)
		SELECT * FROM raw FULL JOIN uni USING (dt) LEFT JOIN so USING (dt)
		WHERE raw.on_hand IS DISTINCT FROM uni.on_hand OR raw.out <> coalesce(so.out, 0)`)
	mismatches(t, db, "stockouts vs the world's truth", `
		SELECT * FROM (SELECT date AS dt, loc AS location_id, sku FROM truth WHERE on_hand = 0) tr
		FULL JOIN (SELECT *, true AS hit FROM stockouts) s USING (dt, location_id, sku)
		WHERE tr.sku IS NULL OR s.hit IS NULL`)

	// po_open: the day's open quantity from the latest state of each line
	// known that day, computed by brute force; and the truth's on order.
	mismatches(t, db, "po_open vs purchase_order_lines", `
		WITH days AS (SELECT DISTINCT dt AS d FROM purchase_order_lines),
		st AS (
			SELECT d, po_id, line_no, arg_max(status, updated_at) AS status,
				arg_max(qty_ordered - qty_received, updated_at) AS open_qty
			FROM days JOIN purchase_order_lines ON business_date <= d GROUP BY ALL),
		raw AS (SELECT d AS dt, sum(open_qty) AS qty FROM st WHERE status IN ('open', 'partially_received') GROUP BY d),
		uni AS (SELECT dt, sum(qty_open) AS qty FROM po_open GROUP BY dt)
		SELECT * FROM raw FULL JOIN uni USING (dt) WHERE raw.qty IS DISTINCT FROM uni.qty`)
	mismatches(t, db, "po_open vs the world's on order", `
		SELECT * FROM (SELECT date AS dt, loc AS location_id, sku, on_order FROM truth WHERE on_order > 0) tr
		FULL JOIN (SELECT dt, location_id, sku, sum(qty_open) AS qty FROM po_open GROUP BY ALL) p USING (dt, location_id, sku)
		WHERE tr.on_order IS DISTINCT FROM p.qty`)

	// lead_times: per supplier, from each line's first received state.
	mismatches(t, db, "lead_times vs purchase_order_lines", `
		WITH first AS (
			SELECT supplier_id, po_id, line_no, min(order_date) AS ordered,
				arg_min(business_date, updated_at) FILTER (WHERE status = 'received') AS received
			FROM purchase_order_lines GROUP BY ALL),
		raw AS (SELECT supplier_id, count(*) AS n, sum(received - ordered) AS days FROM first WHERE received IS NOT NULL GROUP BY ALL),
		uni AS (SELECT supplier_id, count(*) AS n, sum(lead_time_days) AS days FROM lead_times GROUP BY ALL)
		SELECT * FROM raw FULL JOIN uni USING (supplier_id) WHERE raw.n IS DISTINCT FROM uni.n OR raw.days IS DISTINCT FROM uni.days`)
	if n := count(t, db, "SELECT count(*) FROM lead_times WHERE dt <> received_date OR lead_time_days <> received_date - order_date"); n != 0 {
		t.Errorf("%d lead_times rows with inconsistent dates", n)
	}
}

func TestUnifiedBuildIsIncrementalAndRerunsCommitNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := openLake(t, dir)
	cfg := world.Config{Seed: 5, Stores: 2, SKUs: 8, Days: 12}
	if _, err := loadWorld(ctx, l, worldLoad{Config: cfg, FlushEvery: time.Hour, TruthDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	build(t, l)
	v1 := tableVersions(t, l)

	// A rerun finds every table up to date and commits nothing.
	rep := build(t, l)
	for _, tr := range rep.Tables {
		if !tr.UpToDate {
			t.Errorf("rerun rebuilt %s: %+v", tr.Table, tr)
		}
	}
	if v := tableVersions(t, l); fmt.Sprint(v) != fmt.Sprint(v1) {
		t.Errorf("rerun moved versions %v → %v", v1, v)
	}

	// Compaction changes no data: still nothing to rebuild.
	c := newCompactor(t, l, Options{Plan: everyPartitionCompacts})
	if crep, err := c.Compact(ctx); err != nil || len(crep.Tasks) == 0 {
		t.Fatalf("compaction: %+v %v", crep, err)
	}
	rep = build(t, l)
	for _, tr := range rep.Tables {
		if !tr.UpToDate {
			t.Errorf("build after compaction rebuilt %s: %+v", tr.Table, tr)
		}
	}

	// New data on one day rebuilds that day of sales_daily only, and the
	// PO tables from the changed day on.
	start := cfg.Start
	if start == 0 {
		start = world.DefaultStart
	}
	saleDay, poDay := start.AddDays(4), start.AddDays(7)
	last := start.AddDays(cfg.Days - 1)
	loc := time.FixedZone("test", 0)
	late := schema.PosLineRow{
		TransactionID: "LATE-1", LineNo: 1, StoreID: "S0001", RegisterID: "R01", TxnType: "sale",
		BusinessDate: saleDay, EventTime: saleDay.In(loc).Add(15 * time.Hour), Currency: "USD",
		SKU: "SKU000001", Quantity: 40, UnitPrice: schema.Money(10000), LineTotal: schema.Money(400000),
		IngestedAt: time.Now().UTC(),
	}
	appendRows(t, l, schema.TablePOSLines(), saleDay, []schema.PosLineRow{late})
	po := schema.POLineRow{
		POID: "PO-LATE", LineNo: 1, SupplierID: "SUP01", LocationID: "S0001", SKU: "SKU000001",
		QtyOrdered: 50, Status: "open", OrderDate: poDay, ExpectedDate: poDay.AddDays(30),
		UpdatedAt: poDay.In(loc).Add(20 * time.Hour), Currency: "USD", BusinessDate: poDay, IngestedAt: time.Now().UTC(),
	}
	appendRows(t, l, schema.TablePurchaseOrderLines(), poDay, []schema.POLineRow{po})

	before := unifiedFiles(t, l, schema.TableSalesDaily())
	rep = build(t, l)
	got := map[string]string{}
	for _, tr := range rep.Tables {
		got[tr.Table] = fmt.Sprint(tr.Partitions)
	}
	var poDays []schema.Date
	for d := poDay; d <= last; d++ {
		poDays = append(poDays, d)
	}
	want := map[string]string{
		schema.TableNameSalesDaily:     fmt.Sprint([]schema.Date{saleDay}),
		schema.TableNameInventoryDaily: "[]",
		schema.TableNameStockouts:      "[]",
		schema.TableNamePOOpen:         fmt.Sprint(poDays),
		schema.TableNameLeadTimes:      fmt.Sprint(poDays),
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rebuilt partitions\n got %v\nwant %v", got, want)
	}
	after := unifiedFiles(t, l, schema.TableSalesDaily())
	for path, dt := range before {
		if _, kept := after[path]; kept != (dt != saleDay.String()) {
			t.Errorf("sales_daily file %s of dt=%s kept: %v", path, dt, kept)
		}
	}

	// The incremental result equals a build from scratch over the same raw
	// tables.
	fresh := t.TempDir()
	for _, tb := range schema.Tables() {
		if err := os.CopyFS(filepath.Join(fresh, tb.Name), os.DirFS(filepath.Join(dir, tb.Name))); err != nil {
			t.Fatal(err)
		}
	}
	fl := openLake(t, fresh)
	build(t, fl)
	db := duck(t)
	for _, tb := range schema.UnifiedTables() {
		views(t, l, db, tb)
		if _, err := db.Exec("ALTER VIEW " + tb.Name + " RENAME TO inc_" + tb.Name); err != nil {
			t.Fatal(err)
		}
		views(t, fl, db, tb)
		mismatches(t, db, tb.Name+" incremental vs from scratch",
			"(SELECT * FROM inc_"+tb.Name+" EXCEPT ALL SELECT * FROM "+tb.Name+") UNION ALL (SELECT * FROM "+tb.Name+" EXCEPT ALL SELECT * FROM inc_"+tb.Name+")")
	}
	if n := count(t, db, fmt.Sprintf("SELECT units_sold FROM sales_daily WHERE dt = DATE '%s' AND store_id = 'S0001' AND sku = 'SKU000001'", saleDay)); n < 40 {
		t.Errorf("the late sale is not in sales_daily: %d units", n)
	}
}

// appendRows commits rows of one dt to a raw table as one small file.
func appendRows[T any](t testing.TB, l *lake.Lake, tb *schema.Table, day schema.Date, rows []T) {
	t.Helper()
	ctx := context.Background()
	dt, err := l.Table(ctx, tb)
	if err != nil {
		t.Fatal(err)
	}
	adds, err := lake.WriteFiles(ctx, l, tb, day, rows, lake.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := dt.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dt.Commit(ctx, snap, delta.Txn{Isolation: delta.Append, Adds: adds}); err != nil {
		t.Fatal(err)
	}
}

// unifiedFiles maps a table's live file paths to their dt.
func unifiedFiles(t testing.TB, l *lake.Lake, tb *schema.Table) map[string]string {
	t.Helper()
	dt, err := l.Table(context.Background(), tb)
	if err != nil {
		t.Fatal(err)
	}
	s, err := dt.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range s.Files() {
		out[f.RelPath] = f.PartitionValues["dt"]
	}
	return out
}

func TestConcurrentBuildersApplyEachSourceVersionOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := openLake(t, dir)
	if _, err := loadWorld(ctx, l, worldLoad{Config: world.Config{Seed: 3, Stores: 2, SKUs: 6, Days: 6}, FlushEvery: time.Hour, TruthDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			other, err := lake.Open(ctx, dir, lake.Options{})
			if err != nil {
				t.Error(err)
				return
			}
			defer other.Close()
			b, err := NewBuilder(other, UnifiedOptions{TempDir: t.TempDir(), DuckDBThreads: 1})
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := b.Build(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for _, tb := range schema.UnifiedTables() {
		dt, err := l.Table(ctx, tb)
		if err != nil {
			t.Fatal(err)
		}
		s, err := dt.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		def := unifiedDefs[tb.Name]
		src, err := l.Table(ctx, def.source())
		if err != nil {
			t.Fatal(err)
		}
		ss, err := src.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		next, ok := s.TxnVersion(AppID(tb.Name, def.source().Name))
		if !ok || next != ss.Version()+1 {
			t.Errorf("%s: txn %d (%v), source at version %d", tb.Name, next, ok, ss.Version())
		}
		// Version 0 created the table; exactly one build committed.
		if s.Version() != 1 {
			t.Errorf("%s is at version %d: the source version was applied more than once", tb.Name, s.Version())
		}
	}
}

// invRow is an inventory_snapshots row of location L1 for the semantics
// tests: snapshot id, kind, rows in the snapshot, hour of day, SKU, on hand.
func invRow(day schema.Date, snap, kind string, rows int32, hour int, sku string, onHand int64) schema.InventoryRow {
	at := day.In(time.UTC).Add(time.Duration(hour) * time.Hour)
	return schema.InventoryRow{
		SnapshotID: snap, Kind: kind, SnapshotRows: rows, LocationID: "L1", SKU: sku,
		OnHand: onHand, AsOf: at, BusinessDate: day, IngestedAt: at.Add(time.Second),
	}
}

func TestUnifiedSemantics(t *testing.T) {
	day := schema.NewDate(2026, 3, 2)
	full := func(snap string, hour int, rows int32, a, b int64) []schema.InventoryRow {
		return []schema.InventoryRow{
			invRow(day, snap, "full", rows, hour, "A", a),
			invRow(day, snap, "full", rows, hour, "B", b),
		}
	}
	partial := func(snap string, hour int, sku string, onHand int64) schema.InventoryRow {
		return invRow(day, snap, "partial", 1, hour, sku, onHand)
	}
	cat := func(parts ...[]schema.InventoryRow) []schema.InventoryRow {
		var out []schema.InventoryRow
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		rows      []schema.InventoryRow
		want      string // SKU=on_hand of inventory_daily
		stockouts string
	}{
		{
			name: "The latest complete full snapshot of the day wins",
			rows: cat(full("F1", 6, 2, 5, 6), full("F2", 22, 2, 1, 2)),
			want: "A=1 B=2",
		},
		{
			name: "An incomplete full snapshot is ignored, never mixed with a complete one",
			rows: cat(full("F1", 6, 2, 5, 6), full("F2", 22, 3, 9, 9)),
			want: "A=5 B=6",
		},
		{
			name: "Partial rows after the full snapshot apply on top of it",
			rows: cat(full("F1", 6, 2, 5, 6), []schema.InventoryRow{partial("P1", 12, "B", 0)}),
			want: "A=5 B=0", stockouts: "B",
		},
		{
			name: "Partial rows before the full snapshot are superseded by it",
			rows: cat([]schema.InventoryRow{partial("P1", 5, "A", 1)}, full("F1", 6, 2, 5, 6)),
			want: "A=5 B=6",
		},
		{
			name: "A day with only partial rows has just their SKUs",
			rows: []schema.InventoryRow{partial("P1", 12, "B", -1)},
			want: "B=-1", stockouts: "B",
		},
		{
			name: "A resent row counts once when checking a snapshot is complete",
			rows: cat(full("F1", 6, 2, 0, 6), full("F1", 6, 2, 0, 6)[:1]),
			want: "A=0 B=6", stockouts: "A",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := openLake(t, t.TempDir())
			for i := range tc.rows {
				tc.rows[i].SrcOffset = int64(i)
			}
			appendRows(t, l, schema.TableInventorySnapshots(), day, tc.rows)
			build(t, l)
			inv, _, _ := readTable[schema.InventoryDailyRow](t, l, schema.TableInventoryDaily())
			var got []string
			for _, r := range inv {
				if r.DT != day || r.LocationID != "L1" {
					t.Errorf("row %+v", r)
				}
				got = append(got, fmt.Sprintf("%s=%d", r.SKU, r.OnHand))
			}
			if g := strings.Join(got, " "); g != tc.want {
				t.Errorf("inventory_daily %s, want %s", g, tc.want)
			}
			so, _, _ := readTable[schema.StockoutRow](t, l, schema.TableStockouts())
			got = got[:0]
			for _, r := range so {
				got = append(got, r.SKU)
			}
			if g := strings.Join(got, " "); g != tc.stockouts {
				t.Errorf("stockouts %q, want %q", g, tc.stockouts)
			}
		})
	}

	t.Run("Sales exclude voids, count returns positive and resent lines once", func(t *testing.T) {
		l := openLake(t, t.TempDir())
		at := day.In(time.UTC).Add(10 * time.Hour)
		line := func(txn, typ string, q int64, disc, tax schema.Money, offset int64) schema.PosLineRow {
			price := schema.Money(100000) // 10.0000
			total := price.Mul(q) - disc + tax
			if q < 0 {
				total = price.Mul(q) + disc - tax
			}
			return schema.PosLineRow{
				TransactionID: txn, LineNo: 1, StoreID: "S1", TxnType: typ, BusinessDate: day, EventTime: at,
				Currency: "EUR", SKU: "A", Quantity: q, UnitPrice: price, Discount: disc, Tax: tax, LineTotal: total,
				SrcOffset: offset, IngestedAt: at.Add(time.Duration(offset) * time.Second),
			}
		}
		rows := []schema.PosLineRow{
			line("T1", "sale", 2, 10000, 19000, 0),
			line("T1", "sale", 2, 10000, 19000, 1), // resent
			line("T2", "void", 5, 0, 0, 2),
			line("T3", "return", -1, 5000, 9500, 3),
			line("T4", "sale", 1, 0, 10000, 4),
		}
		appendRows(t, l, schema.TablePOSLines(), day, rows)
		build(t, l)
		got, _, _ := readTable[schema.SalesDailyRow](t, l, schema.TableSalesDaily())
		want := []schema.SalesDailyRow{{
			DT: day, StoreID: "S1", SKU: "A", Currency: "EUR", UnitsSold: 3, UnitsReturned: 1,
			GrossSales: 300000, Discounts: 10000, Returns: 95000, NetSales: 195000, Transactions: 2,
		}}
		if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
			t.Errorf("sales_daily\n got %+v\nwant %+v", got, want)
		}
	})

	t.Run("Open PO quantity follows each line's state and lead time counts to the first receipt", func(t *testing.T) {
		l := openLake(t, t.TempDir())
		state := func(po string, d int, status string, ordered, received int64) schema.POLineRow {
			on := day.AddDays(d)
			at := on.In(time.UTC).Add(9 * time.Hour)
			return schema.POLineRow{
				POID: po, LineNo: 1, SupplierID: "SUP1", LocationID: "L1", SKU: "A",
				QtyOrdered: ordered, QtyReceived: received, Status: status,
				OrderDate: day, ExpectedDate: day.AddDays(5), UpdatedAt: at, BusinessDate: on, IngestedAt: at,
			}
		}
		for _, r := range []schema.POLineRow{
			state("P1", 0, "open", 10, 0),
			state("P2", 0, "open", 3, 0),
			state("P2", 1, "cancelled", 3, 0),
			state("P1", 2, "partially_received", 10, 4),
			state("P1", 4, "received", 10, 10),
			state("P1", 6, "received", 10, 10), // a later restatement
		} {
			appendRows(t, l, schema.TablePurchaseOrderLines(), r.BusinessDate, []schema.POLineRow{r})
		}
		build(t, l)
		open, _, _ := readTable[schema.POOpenRow](t, l, schema.TablePOOpen())
		var got []string
		for _, r := range open {
			got = append(got, fmt.Sprintf("+%d:%d/%d", r.DT-day, r.QtyOpen, r.OpenLines))
		}
		if g, want := strings.Join(got, " "), "+0:13/2 +1:10/1 +2:6/1 +3:6/1"; g != want {
			t.Errorf("po_open %s, want %s", g, want)
		}
		lt, _, _ := readTable[schema.LeadTimeRow](t, l, schema.TableLeadTimes())
		if len(lt) != 1 || lt[0].DT != day.AddDays(4) || lt[0].LeadTimeDays != 4 || lt[0].POID != "P1" {
			t.Errorf("lead_times %+v", lt)
		}
	})
}

func TestUnifiedRowGroupsHoldNarrowLocationRanges(t *testing.T) {
	dir := t.TempDir()
	l := openLake(t, dir)
	if _, err := loadWorld(context.Background(), l, worldLoad{Config: worldForUnified, FlushEvery: 30 * time.Minute, TruthDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	const rowGroup = 8
	b, err := NewBuilder(l, UnifiedOptions{Logger: testLogger(t), TempDir: t.TempDir(), RowGroupRows: rowGroup})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Build(context.Background()); err != nil {
		t.Fatal(err)
	}
	db := duck(t)
	for _, c := range []struct {
		table *schema.Table
		loc   string
	}{
		{schema.TableSalesDaily(), "store_id"},
		{schema.TableInventoryDaily(), "location_id"},
		{schema.TablePOOpen(), "location_id"},
	} { // (stockouts, written the same way, are too few a day here)
		t.Run(c.table.Name, func(t *testing.T) {
			glob := filepath.Join(dir, c.table.Name, "*", "*.parquet")
			// Per file, row groups in order: at most rowGroup rows each,
			// and each one's locations from where the previous one's end.
			var files, groups, maxRows, overlaps int64
			err := db.QueryRow(`
				WITH rg AS (
					SELECT file_name, row_group_id, row_group_num_rows AS n,
						stats_min_value AS lo, stats_max_value AS hi
					FROM parquet_metadata(?) WHERE path_in_schema = ?),
				ordered AS (
					SELECT *, lag(hi) OVER (PARTITION BY file_name ORDER BY row_group_id) AS prev_hi FROM rg)
				SELECT count(DISTINCT file_name), count(*), max(n), count(*) FILTER (WHERE prev_hi > lo)
				FROM ordered`, glob, c.loc).Scan(&files, &groups, &maxRows, &overlaps)
			if err != nil {
				t.Fatal(err)
			}
			if groups <= files {
				t.Fatalf("%d row groups in %d files: the test world exercises nothing", groups, files)
			}
			if maxRows > rowGroup || overlaps != 0 {
				t.Errorf("row groups of up to %d rows (want ≤ %d), %d starting before the previous one's last %s",
					maxRows, rowGroup, overlaps, c.loc)
			}
		})
	}
	// The default is UnifiedRowGroupRows.
	if o := (UnifiedOptions{}).withDefaults(); o.RowGroupRows != UnifiedRowGroupRows {
		t.Errorf("default row group rows %d, want %d", o.RowGroupRows, UnifiedRowGroupRows)
	}
}
