package ingest

import (
	"context"
	"errors"
	"strconv"

	"github.com/shelflake/shelflake/schema"
)

// ErrFenced is returned (wrapped) by LakeTable.Commit when a fence range does
// not start at the table's current txn version for its appId: another
// writer (a newer owner of the partition, or this one before a restart)
// already committed those offsets. Test with errors.Is.
var ErrFenced = errors.New("commit fenced")

// Lake is the lake as ingest uses it. NewLake adapts shelflake's lake
// package; tests may use any implementation that keeps the contract.
type Lake interface {
	// Table opens the lake table t, creating it if it does not exist.
	Table(ctx context.Context, t *schema.Table) (LakeTable, error)
}

// LakeTable is one Delta table as ingest writes it. Safe for concurrent use.
type LakeTable interface {
	// TxnVersions reads the table's latest snapshot (not a cached one) and
	// returns the version of every txn appId in it.
	TxnVersions(ctx context.Context) (map[string]int64, error)
	// WriteFiles encodes rows, chunks of the table's row type (e.g.
	// [][]schema.PosLineRow) whose rows all have partition date dt, into
	// new data files (one, or more past the lake's file size target),
	// uploads them and returns them, not yet part of the table. It may set
	// each chunk to nil once encoded, to free it early.
	WriteFiles(ctx context.Context, dt schema.Date, rows any) ([]File, error)
	// Commit atomically adds files to the table and moves every fence's
	// appId from From to To. It fails wrapping ErrFenced, writing nothing,
	// when a fence's appId is not at version From (or, for a First fence,
	// when the appId has any version). Commits that do not conflict
	// logically (appends) are retried inside on a lost race; other errors
	// may leave it unknown whether the commit landed, which TxnVersions
	// then tells.
	Commit(ctx context.Context, c Commit) (version int64, err error)
}

// File is a written, uploaded and not yet committed data file.
type File struct {
	// Action is the lake's add action for the file, opaque to ingest.
	Action any
	// Path names the file for logs.
	Path  string
	Bytes int64
	Rows  int64
}

// Fence is the offset range [From, To) of one Kafka topic-partition a
// commit covers, under txn appId AppID. First says the table has no txn for
// AppID yet (From is then where the partition's consumption started).
type Fence struct {
	AppID    string
	From, To int64
	First    bool
}

// Commit is one atomic change of a table.
type Commit struct {
	Files  []File
	Fences []Fence
	// Info goes into the commit's commitInfo action (provenance).
	Info map[string]any
}

// AppID is the txn appId of a topic-partition within a consumer group:
// "<group>/<topic>/<partition>". Its version in a table is the next offset
// of that partition the table has not seen.
func AppID(group, topic string, partition int32) string {
	return group + "/" + topic + "/" + strconv.Itoa(int(partition))
}
