package queries

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shelflake/shelflake/lake/delta"
	"github.com/shelflake/shelflake/lake/objstore"
)

// commitRow is one row of _commits: what one commit did.
type commitRow struct {
	version      int64
	time         time.Time // zero when unknown
	operation    string
	engine       string
	txnID        string
	filesAdded   int64
	filesRemoved int64
	recordsAdded int64 // -1 when an add has no stats
	bytesAdded   int64
	dataChange   bool
}

// readCommits reads the commit files of the newest Options.CommitHistory
// versions up to v of table name from its Delta log. Commit files already
// cleaned up (older than a checkpoint) are skipped.
func (s *Session) readCommits(ctx context.Context, name string, v int64) ([]commitRow, error) {
	from := max(0, v-int64(s.opts.CommitHistory)+1)
	rows := make([]*commitRow, v-from+1)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for ver := from; ver <= v; ver++ {
		g.Go(func() error {
			key := fmt.Sprintf("%s/_delta_log/%020d.json", name, ver)
			r, err := s.lake.Bucket().Get(gctx, key)
			if errors.Is(err, objstore.ErrNotExist) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("commit %d: %w", ver, err)
			}
			defer r.Close()
			acts, err := delta.DecodeActions(r)
			if err != nil {
				return fmt.Errorf("commit %d: %w", ver, err)
			}
			rows[ver-from] = summarizeCommit(ver, acts)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := make([]commitRow, 0, len(rows))
	for _, r := range rows {
		if r != nil {
			out = append(out, *r)
		}
	}
	return out, nil
}

func summarizeCommit(v int64, acts []delta.Action) *commitRow {
	r := &commitRow{version: v}
	for _, a := range acts {
		switch {
		case a.CommitInfo != nil:
			if ts, ok := a.CommitInfo.Timestamp(); ok {
				r.time = ts
			}
			r.operation = a.CommitInfo.Operation()
			r.engine = a.CommitInfo.String("engineInfo")
			r.txnID = a.CommitInfo.TxnID()
		case a.Add != nil:
			r.filesAdded++
			r.bytesAdded += a.Add.Size
			r.dataChange = r.dataChange || a.Add.DataChange
			st, err := a.Add.ParseStats()
			if err != nil || st == nil || r.recordsAdded < 0 {
				r.recordsAdded = -1
			} else {
				r.recordsAdded += st.NumRecords
			}
		case a.Remove != nil:
			r.filesRemoved++
			r.dataChange = r.dataChange || a.Remove.DataChange
		}
	}
	return r
}

// installMeta (re)creates _tables and _commits from the loaded tables.
func (s *Session) installMeta(ctx context.Context, tables []*table) error {
	ddl := []string{
		`CREATE OR REPLACE TABLE _tables (
	table_name VARCHAR, present BOOLEAN, version BIGINT, latest BOOLEAN,
	commit_time TIMESTAMPTZ, operation VARCHAR, files BIGINT, bytes BIGINT,
	records BIGINT, max_dt DATE)`,
		`CREATE OR REPLACE TABLE _commits (
	table_name VARCHAR, version BIGINT, commit_time TIMESTAMPTZ, operation VARCHAR,
	engine_info VARCHAR, txn_id VARCHAR, files_added BIGINT, files_removed BIGINT,
	records_added BIGINT, bytes_added BIGINT, data_change BOOLEAN)`,
	}
	for _, q := range ddl {
		if _, err := s.conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("create lake metadata tables: %w", err)
		}
	}
	for _, t := range tables {
		i := t.info
		_, err := s.conn.ExecContext(ctx, `INSERT INTO _tables VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, CAST(? AS DATE))`,
			i.Name, i.Present, nullIf(i.Version, i.Version < 0), i.Latest, nullTime(i.CommitTime),
			nullIf(i.Operation, i.Operation == ""), int64(i.Files), i.Bytes,
			nullIf(i.Records, i.Records < 0 || !i.Present), nullIf(i.MaxDT, i.MaxDT == ""))
		if err != nil {
			return fmt.Errorf("fill _tables with %s: %w", i.Name, err)
		}
		for _, c := range t.commits {
			_, err := s.conn.ExecContext(ctx, `INSERT INTO _commits VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				i.Name, c.version, nullTime(c.time), c.operation, c.engine, c.txnID,
				c.filesAdded, c.filesRemoved, nullIf(c.recordsAdded, c.recordsAdded < 0), c.bytesAdded, c.dataChange)
			if err != nil {
				return fmt.Errorf("fill _commits with %s version %d: %w", i.Name, c.version, err)
			}
		}
	}
	return nil
}

// nullIf returns v, or nil (SQL NULL) when null is true.
func nullIf[T any](v T, null bool) any {
	if null {
		return nil
	}
	return v
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}
