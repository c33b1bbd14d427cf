package delta

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPathEncoding(t *testing.T) {
	cases := []struct {
		name, path, encoded string
	}{
		{"a hive partition path stays readable", "dt=2024-05-01/part-00001-abc.parquet", "dt=2024-05-01/part-00001-abc.parquet"},
		{"a space, an at-sign and a hash are escaped", "special p@#h", "special%20p%40%23h"},
		{"a percent sign is escaped so hive escapes survive", "ts=2021-09-08 11%3A11%3A11/f", "ts=2021-09-08%2011%253A11%253A11/f"},
		{"a colon is escaped so the path never looks like a URI scheme", "a:b/c", "a%3Ab/c"},
		{"non-ASCII bytes are escaped as UTF-8", "städte/ü", "st%C3%A4dte/%C3%BC"},
		{"a plus sign is escaped and decodes as a plus", "a+b", "a%2Bb"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := EncodePath(c.path); got != c.encoded {
				t.Errorf("EncodePath(%q) = %q, want %q", c.path, got, c.encoded)
			}
			got, err := DecodePath(c.encoded)
			if err != nil || got != c.path {
				t.Errorf("DecodePath(%q) = %q, %v; want %q", c.encoded, got, err, c.path)
			}
		})
	}
	t.Run("Spark's lighter encoding decodes to the same path", func(t *testing.T) {
		got, err := DecodePath("special%20p@%23h")
		if err != nil || got != "special p@#h" {
			t.Errorf("got %q, %v", got, err)
		}
	})
	for _, bad := range []string{"a%2", "a%zz", "%"} {
		if _, err := DecodePath(bad); err == nil {
			t.Errorf("DecodePath(%q) succeeded, want an error", bad)
		}
	}
}

func TestHasScheme(t *testing.T) {
	for p, want := range map[string]bool{
		"s3://bucket/x": true, "file:/tmp/x": true, "dt=2024/x": false, "a/b:c": false,
		"part-1.parquet": false, ":x": false, "1a:b": false,
	} {
		if got := hasScheme(p); got != want {
			t.Errorf("hasScheme(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestActionsRoundTrip(t *testing.T) {
	ts := int64(1700000000000)
	size := int64(42)
	acts := []Action{
		{CommitInfo: CommitInfo{"timestamp": ts, "operation": "WRITE", "txnId": "t-1"}},
		{Protocol: &Protocol{MinReaderVersion: 1, MinWriterVersion: 2}},
		{Metadata: &Metadata{ID: "id", Format: Format{Provider: "parquet"}, SchemaString: testSchema, PartitionColumns: []string{"dt"}}},
		{Txn: &SetTransaction{AppID: "g/t/0", Version: 10, LastUpdated: &ts}},
		{Remove: &Remove{Path: "dt=2024-01-01/a.parquet", DeletionTimestamp: &ts, DataChange: true, ExtendedFileMetadata: true, PartitionValues: map[string]string{"dt": "2024-01-01"}, Size: &size}},
		{Add: &Add{Path: "dt=2024-01-02/b%20c.parquet", PartitionValues: map[string]string{"dt": "2024-01-02"}, Size: 7, ModificationTime: ts, DataChange: true, Stats: `{"numRecords":3}`, Tags: map[string]string{"k": "<v>"}}},
	}
	data, err := EncodeActions(acts)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(data, []byte("\n")); n != len(acts) {
		t.Fatalf("%d lines, want %d:\n%s", n, len(acts), data)
	}
	for _, want := range []string{`"configuration":{}`, `"options":{}`, `"<v>"`, `"minReaderVersion":1,"minWriterVersion":2}`} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("encoding lacks %s:\n%s", want, data)
		}
	}
	got, err := DecodeActions(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	again, err := EncodeActions(got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, data) {
		t.Errorf("re-encoding differs:\n%s\nvs\n%s", again, data)
	}
	if got[0].CommitInfo.TxnID() != "t-1" {
		t.Errorf("txnId %q", got[0].CommitInfo.TxnID())
	}
	if cts, ok := got[0].CommitInfo.Timestamp(); !ok || cts.UnixMilli() != ts {
		t.Errorf("timestamp %v", cts)
	}
}

func TestDecodeActions(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		wantErr bool
		check   func(t *testing.T, acts []Action)
	}{
		{name: "unknown actions and fields are ignored", in: `{"cdc":{"path":"x"}}` + "\n" + `{"add":{"path":"a","partitionValues":{},"size":1,"modificationTime":1,"dataChange":true,"newField":7}}` + "\n",
			check: func(t *testing.T, acts []Action) {
				if len(acts) != 2 || acts[0].count() != 0 || acts[1].Add == nil {
					t.Errorf("got %+v", acts)
				}
			}},
		{name: "a null partition value reads as empty", in: `{"add":{"path":"a","partitionValues":{"p":null,"q":"1"},"size":1,"modificationTime":1,"dataChange":true}}`,
			check: func(t *testing.T, acts []Action) {
				pv := acts[0].Add.PartitionValues
				if v, ok := pv["p"]; !ok || v != "" || pv["q"] != "1" {
					t.Errorf("partitionValues %v", pv)
				}
			}},
		{name: "blank lines and a missing final newline are fine", in: "\n" + `{"txn":{"appId":"a","version":3}}` + "\n\n" + `{"txn":{"appId":"b","version":4}}`,
			check: func(t *testing.T, acts []Action) {
				if len(acts) != 2 || acts[1].Txn.Version != 4 {
					t.Errorf("got %+v", acts)
				}
			}},
		{name: "a line that is not JSON is an error", in: `{"add":`, wantErr: true},
		{name: "two actions on one line are an error", in: `{"add":{"path":"a"},"remove":{"path":"a"}}`, wantErr: true},
		{name: "an add without path is an error", in: `{"add":{"size":1}}`, wantErr: true},
		{name: "a txn without appId is an error", in: `{"txn":{"version":1}}`, wantErr: true},
		{name: "trailing data on a line is an error", in: `{"txn":{"appId":"a","version":1}} {}`, wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			acts, err := DecodeActions(strings.NewReader(c.in))
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, c.wantErr)
			}
			if c.check != nil {
				c.check(t, acts)
			}
		})
	}
}

func FuzzDecodeActions(f *testing.F) {
	f.Add([]byte(`{"add":{"path":"a%20b","partitionValues":{"dt":"2024-01-01"},"size":1,"modificationTime":1,"dataChange":true,"stats":"{\"numRecords\":1}"}}`))
	f.Add([]byte(`{"commitInfo":{"timestamp":1,"txnId":"x"}}` + "\n" + `{"txn":{"appId":"g/t/0","version":5}}`))
	f.Add([]byte(`{"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["deletionVectors"],"writerFeatures":[]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		acts, err := DecodeActions(bytes.NewReader(data))
		if err != nil {
			return
		}
		// Whatever decodes applies without panicking and re-encodes.
		st := newState()
		_ = st.apply(acts)
		var known []Action
		for _, a := range acts {
			if a.count() == 1 {
				known = append(known, a)
			}
		}
		enc, err := EncodeActions(known)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		again, err := DecodeActions(bytes.NewReader(enc))
		if err != nil || len(again) != len(known) {
			t.Fatalf("decode of re-encoding: %d actions, %v; want %d", len(again), err, len(known))
		}
	})
}

func FuzzDecodePath(f *testing.F) {
	for _, s := range []string{"special%20p@%23h", "dt=2024-01-01/x", "%", "a%2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := DecodePath(s)
		if err != nil {
			return
		}
		if back, err := DecodePath(EncodePath(d)); err != nil || back != d {
			t.Fatalf("EncodePath/DecodePath of %q: %q, %v", d, back, err)
		}
	})
}

func TestParseLogName(t *testing.T) {
	cases := []struct {
		name string
		ok   bool
		want logFile
	}{
		{"00000000000000000007.json", true, logFile{version: 7, kind: logCommit}},
		{"00000000000000000010.checkpoint.parquet", true, logFile{version: 10, kind: logCheckpoint}},
		{"00000000000000000010.checkpoint.0000000002.0000000003.parquet", true, logFile{version: 10, kind: logCheckpoint, part: 2, parts: 3}},
		{"00000000000000000010.checkpoint.0000000004.0000000003.parquet", false, logFile{}},
		{"00000000000000000010.checkpoint.80a083e8-7026-4e79-81be-64bd76c43a11.json", false, logFile{}},
		{"00000000000000000004.00000000000000000006.compacted.json", false, logFile{}},
		{"_last_checkpoint", false, logFile{}},
		{".00000000000000000010.checkpoint.parquet.crc", false, logFile{}},
		{"00000000000000000010.crc", false, logFile{}},
		{"_staged_commits/00000000000000000001.json", false, logFile{}},
	}
	for _, c := range cases {
		got, ok := parseLogName(c.name)
		if ok != c.ok || got != c.want {
			t.Errorf("parseLogName(%q) = %+v, %v; want %+v, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

func TestBuildListingKeepsOnlyCompleteCheckpoints(t *testing.T) {
	files := []logFile{
		{version: 0, kind: logCommit}, {version: 1, kind: logCommit}, {version: 2, kind: logCommit}, {version: 3, kind: logCommit},
		{version: 1, kind: logCheckpoint, part: 1, parts: 2}, {version: 1, kind: logCheckpoint, part: 2, parts: 2},
		{version: 2, kind: logCheckpoint},
		{version: 3, kind: logCheckpoint, part: 1, parts: 3}, {version: 3, kind: logCheckpoint, part: 3, parts: 3},
	}
	l := buildListing(files, nil)
	want := []checkpointRef{{version: 1, parts: 2}, {version: 2}}
	if !slices.Equal(l.checkpoints, want) {
		t.Errorf("checkpoints %+v, want %+v (the 3-part one at version 3 lacks part 2)", l.checkpoints, want)
	}
	if l.latest() != 3 || !l.hasCommit(2) || l.hasCommit(4) {
		t.Errorf("latest %d", l.latest())
	}
	if got := travelVersions(l); !slices.Equal(got, []int64{0, 1, 2, 3}) {
		t.Errorf("travel versions %v", got)
	}
}

func TestParseLastCheckpoint(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want checkpointRef
		ok   bool
	}{
		{"a single-file checkpoint", `{"version":10,"size":13}`, checkpointRef{version: 10}, true},
		{"a multi-part checkpoint", `{"version":1,"size":12,"parts":2,"sizeInBytes":30499}`, checkpointRef{version: 1, parts: 2}, true},
		{"an empty file", ``, checkpointRef{}, false},
		{"truncated JSON", `{"version":1`, checkpointRef{}, false},
		{"no version", `{"size":3}`, checkpointRef{}, false},
		{"a negative version", `{"version":-1,"size":3}`, checkpointRef{}, false},
		{"zero parts", `{"version":1,"size":3,"parts":0}`, checkpointRef{}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseLastCheckpoint([]byte(c.in))
			if (err == nil) != c.ok || got != c.want {
				t.Errorf("got %+v, %v; want %+v ok=%v", got, err, c.want, c.ok)
			}
		})
	}
}

func TestProtocolSupport(t *testing.T) {
	md := Metadata{SchemaString: testSchema}
	cases := []struct {
		name          string
		p             Protocol
		md            Metadata
		read, write   bool
		readErrSubstr string
	}{
		{name: "reader 1 writer 2 is read and written", p: Protocol{MinReaderVersion: 1, MinWriterVersion: 2}, md: md, read: true, write: true},
		{name: "reader 1 writer 1 is read and written", p: Protocol{MinReaderVersion: 1, MinWriterVersion: 1}, md: md, read: true, write: true},
		{name: "writer 4 (change data feed) is read but not written", p: Protocol{MinReaderVersion: 1, MinWriterVersion: 4}, md: md, read: true},
		{name: "reader 2 (column mapping) is refused", p: Protocol{MinReaderVersion: 2, MinWriterVersion: 5}, md: md, readErrSubstr: "reader version 2"},
		{name: "reader 3 with deletion vectors is refused", p: Protocol{MinReaderVersion: 3, MinWriterVersion: 7, ReaderFeatures: []string{"deletionVectors"}, WriterFeatures: []string{"deletionVectors"}}, md: md, readErrSubstr: "deletionVectors"},
		{name: "reader 3 with timestampNtz is read and written", p: Protocol{MinReaderVersion: 3, MinWriterVersion: 7, ReaderFeatures: []string{"timestampNtz"}, WriterFeatures: []string{"timestampNtz"}}, md: md, read: true, write: true},
		{name: "writer 7 with an unknown writer feature is read but not written", p: Protocol{MinReaderVersion: 1, MinWriterVersion: 7, WriterFeatures: []string{"rowTracking"}}, md: md, read: true},
		{name: "column invariants in the schema are not written", p: Protocol{MinReaderVersion: 1, MinWriterVersion: 2}, md: Metadata{SchemaString: `{"metadata":{"delta.invariants":"x"}}`}, read: true},
		{name: "reader 99 is refused", p: Protocol{MinReaderVersion: 99, MinWriterVersion: 7}, md: md, readErrSubstr: "reader version 99"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rerr := checkReadable(c.p)
			if (rerr == nil) != c.read {
				t.Errorf("readable: %v, want %v", rerr, c.read)
			}
			if rerr != nil && (!errors.Is(rerr, ErrUnsupportedProtocol) || !strings.Contains(rerr.Error(), c.readErrSubstr)) {
				t.Errorf("read error %q", rerr)
			}
			werr := checkWritable(c.p, c.md)
			if (werr == nil) != c.write {
				t.Errorf("writable: %v, want %v", werr, c.write)
			}
			if werr != nil && !errors.Is(werr, ErrUnsupportedProtocol) {
				t.Errorf("write error %q does not wrap ErrUnsupportedProtocol", werr)
			}
		})
	}
}

func TestParsePartitionValue(t *testing.T) {
	cases := []struct {
		typ, raw string
		want     any
		wantErr  bool
	}{
		{"string", "a b", "a b", false},
		{"long", "-12", int64(-12), false},
		{"byte", "300", nil, true},
		{"boolean", "true", true, false},
		{"double", "1.5", 1.5, false},
		{"date", "2024-02-29", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), false},
		{"timestamp", "2020-01-01 08:09:10.001", time.Date(2020, 1, 1, 8, 9, 10, 1e6, time.UTC), false},
		{"timestamp", "1970-01-01T00:00:00.123456Z", time.Date(1970, 1, 1, 0, 0, 0, 123456000, time.UTC), false},
		{"date", "", nil, false},
		{"map", "x", nil, true},
	}
	for _, c := range cases {
		got, err := ParsePartitionValue(c.typ, c.raw)
		if (err != nil) != c.wantErr || (!c.wantErr && !equalValue(got, c.want)) {
			t.Errorf("ParsePartitionValue(%s, %q) = %v, %v; want %v (err %v)", c.typ, c.raw, got, err, c.want, c.wantErr)
		}
	}
}

func TestNextTimestampIncreasesStrictly(t *testing.T) {
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name      string
		now, prev time.Time
		want      time.Time
	}{
		{"a clock ahead of the previous commit is used", base.Add(time.Second), base, base.Add(time.Second)},
		{"a clock equal to the previous commit moves one millisecond on", base, base, base.Add(time.Millisecond)},
		{"a clock behind the previous commit moves one millisecond past it", base.Add(-time.Hour), base, base.Add(time.Millisecond)},
		{"sub-millisecond precision is dropped", base.Add(1500 * time.Microsecond), time.Time{}, base.Add(time.Millisecond)},
	}
	for _, c := range cases {
		if got := nextTimestamp(c.now, c.prev); !got.Equal(c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

// snapshotOf builds an in-memory snapshot from actions (pure tests).
func snapshotOf(t *testing.T, version int64, acts ...Action) *Snapshot {
	t.Helper()
	st := newState()
	base := []Action{
		{Protocol: &Protocol{MinReaderVersion: 1, MinWriterVersion: 2}},
		{Metadata: &Metadata{ID: "x", Format: Format{Provider: "parquet"}, SchemaString: testSchema, PartitionColumns: []string{"dt"}}},
	}
	if err := st.apply(append(base, acts...)); err != nil {
		t.Fatal(err)
	}
	st.version = version
	return &Snapshot{st: st}
}

func add(path string) Action {
	return Action{Add: &Add{Path: path, PartitionValues: map[string]string{"dt": "2024-01-01"}, Size: 1, DataChange: true}}
}

func rm(path string) Action { return Action{Remove: &Remove{Path: path, DataChange: true}} }

func txnAct(app string, v int64) Action { return Action{Txn: &SetTransaction{AppID: app, Version: v}} }

func TestCheckBase(t *testing.T) {
	base := snapshotOf(t, 5, add("a"), add("b"), txnAct("g/t/0", 100))
	newAdd := add("c").Add
	cases := []struct {
		name string
		txn  Txn
		want error // nil, ErrFenced, ErrConflict, ErrInvalidTxn
	}{
		{"a fence starting at the table's txn version is valid", Txn{Adds: []Add{*newAdd}, Fences: []FenceRange{{AppID: "g/t/0", From: 100, To: 150}}}, nil},
		{"a fence behind the table's txn version is refused (zombie or replay)", Txn{Adds: []Add{*newAdd}, Fences: []FenceRange{{AppID: "g/t/0", From: 50, To: 100}}}, ErrFenced},
		{"a fence ahead of the table's txn version is refused (a gap)", Txn{Adds: []Add{*newAdd}, Fences: []FenceRange{{AppID: "g/t/0", From: 120, To: 150}}}, ErrFenced},
		{"a first fence on an appId without txn is valid at any start", Txn{Adds: []Add{*newAdd}, Fences: []FenceRange{{AppID: "g/t/1", From: 7, To: 9, First: true}}}, nil},
		{"a first fence on an appId that has a txn is refused", Txn{Adds: []Add{*newAdd}, Fences: []FenceRange{{AppID: "g/t/0", From: 100, To: 150, First: true}}}, ErrFenced},
		{"a non-first fence on an appId without txn is refused", Txn{Adds: []Add{*newAdd}, Fences: []FenceRange{{AppID: "g/t/1", From: 0, To: 9}}}, ErrFenced},
		{"a rewrite removing live files is valid", Txn{Isolation: Rewrite, Removes: []Remove{*rm("a").Remove}, Adds: []Add{*newAdd}}, nil},
		{"a rewrite removing a file that is not live conflicts", Txn{Isolation: Rewrite, Removes: []Remove{*rm("zzz").Remove}}, ErrConflict},
		{"an add without the partition value is invalid", Txn{Adds: []Add{{Path: "d", PartitionValues: map[string]string{}, Size: 1}}}, ErrInvalidTxn},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := validateTxn(&c.txn); err != nil {
				if !errors.Is(err, c.want) {
					t.Fatalf("validate: %v", err)
				}
				return
			}
			err := checkBase(base, &c.txn)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			var fe *FenceError
			if errors.Is(c.want, ErrFenced) && (!errors.As(err, &fe) || fe.Version != 5) {
				t.Errorf("fence error %v lacks details", err)
			}
		})
	}
	t.Run("an append-only table refuses removes", func(t *testing.T) {
		s := snapshotOf(t, 1, Action{Metadata: &Metadata{ID: "x", SchemaString: testSchema, Configuration: map[string]string{"delta.appendOnly": "true"}}}, add("a"))
		txn := Txn{Isolation: Rewrite, Removes: []Remove{*rm("a").Remove}}
		if err := checkBase(s, &txn); !errors.Is(err, ErrInvalidTxn) {
			t.Errorf("got %v", err)
		}
	})
}

func TestValidateTxn(t *testing.T) {
	a := *add("a").Add
	cases := []struct {
		name string
		txn  Txn
		ok   bool
	}{
		{"an append of one file is valid", Txn{Adds: []Add{a}}, true},
		{"an empty commit is invalid", Txn{}, false},
		{"an append with removes is invalid", Txn{Adds: []Add{a}, Removes: []Remove{*rm("b").Remove}}, false},
		{"a file added twice is invalid", Txn{Adds: []Add{a, a}}, false},
		{"an empty fence range is invalid", Txn{Adds: []Add{a}, Fences: []FenceRange{{AppID: "x", From: 5, To: 5}}}, false},
		{"a negative fence start is invalid", Txn{Adds: []Add{a}, Fences: []FenceRange{{AppID: "x", From: -1, To: 5}}}, false},
		{"an appId fenced twice is invalid", Txn{Adds: []Add{a}, Fences: []FenceRange{{AppID: "x", From: 0, To: 5, First: true}, {AppID: "x", From: 5, To: 6}}}, false},
		{"a fence without data is valid (it moves the offset)", Txn{Fences: []FenceRange{{AppID: "x", From: 0, To: 5, First: true}}}, true},
		{"overriding a reserved commitInfo field is invalid", Txn{Adds: []Add{a}, Info: map[string]any{"txnId": "mine"}}, false},
		{"an unknown isolation is invalid", Txn{Isolation: 9, Adds: []Add{a}}, false},
	}
	for _, c := range cases {
		err := validateTxn(&c.txn)
		if (err == nil) != c.ok {
			t.Errorf("%s: got %v", c.name, err)
		}
		if err != nil && !errors.Is(err, ErrInvalidTxn) {
			t.Errorf("%s: %v does not wrap ErrInvalidTxn", c.name, err)
		}
	}
}

func TestCheckWinner(t *testing.T) {
	fenced := Txn{Adds: []Add{*add("n").Add}, Fences: []FenceRange{{AppID: "g/t/0", From: 10, To: 20}}}
	rewrite := Txn{Isolation: Rewrite, Removes: []Remove{*rm("a").Remove, *rm("b").Remove}, Adds: []Add{*add("ab").Add}}
	appendTxn := Txn{Adds: []Add{*add("n").Add}}
	schemaChange := Txn{Metadata: &Metadata{ID: "x", SchemaString: testSchema}}
	cases := []struct {
		name   string
		txn    Txn
		winner []Action
		want   error
	}{
		{"an append never conflicts with a concurrent append", appendTxn, []Action{add("w")}, nil},
		{"an append tolerates a concurrent rewrite", appendTxn, []Action{rm("a"), add("w")}, nil},
		{"an append conflicts with a concurrent metadata change", appendTxn, []Action{{Metadata: &Metadata{ID: "y"}}}, ErrConflict},
		{"an append conflicts with a concurrent protocol change", appendTxn, []Action{{Protocol: &Protocol{MinReaderVersion: 1, MinWriterVersion: 7}}}, ErrConflict},
		{"a rewrite conflicts when a winner removed one of its files", rewrite, []Action{rm("b"), add("x")}, ErrConflict},
		{"a rewrite conflicts when a winner removed one of its files under another encoding", Txn{Isolation: Rewrite, Removes: []Remove{{Path: "p q"}}}, []Action{rm("p%20q")}, ErrConflict},
		{"a rewrite tolerates a winner that added files", rewrite, []Action{add("w")}, nil},
		{"a rewrite tolerates a winner that removed other files", rewrite, []Action{rm("c")}, nil},
		{"a fenced commit is refused when a winner moved its appId", fenced, []Action{txnAct("g/t/0", 20), add("w")}, ErrFenced},
		{"a fenced commit is refused even when the winner moved its appId elsewhere", fenced, []Action{txnAct("g/t/0", 15)}, ErrFenced},
		{"a fenced commit tolerates a winner moving another appId", fenced, []Action{txnAct("g/t/1", 20), add("w")}, nil},
		{"a metadata change conflicts with any winner", schemaChange, []Action{add("w")}, ErrConflict},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			removed := map[fileKey]bool{}
			for _, r := range c.txn.Removes {
				k, _, _ := keyOf(r.Path, nil)
				removed[k] = true
			}
			err := checkWinner(&c.txn, removed, 9, c.winner)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			var fe *FenceError
			if errors.As(err, &fe) && (fe.Version != 9 || !fe.Present) {
				t.Errorf("fence error %+v", fe)
			}
		})
	}
}

func TestReconciliation(t *testing.T) {
	cases := []struct {
		name    string
		commits [][]Action
		files   []string
		tombs   int
		txns    map[string]int64
	}{
		{"a remove cancels an earlier add", [][]Action{{add("a"), add("b")}, {rm("a")}}, []string{"b"}, 1, map[string]int64{}},
		{"a re-add revives a removed file and drops its tombstone", [][]Action{{add("a")}, {rm("a")}, {add("a")}}, []string{"a"}, 0, map[string]int64{}},
		{"paths reconcile by decoded form", [][]Action{{add("a%20b")}, {rm("a b")}}, nil, 1, map[string]int64{}},
		{"the newest txn per appId wins, even a lower version", [][]Action{{txnAct("x", 5), txnAct("y", 1)}, {txnAct("x", 3)}}, nil, 0, map[string]int64{"x": 3, "y": 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := newState()
			for _, acts := range c.commits {
				if err := st.apply(acts); err != nil {
					t.Fatal(err)
				}
			}
			var got []string
			for _, e := range st.sortedFiles() {
				got = append(got, e.path)
			}
			if !slices.Equal(got, c.files) || len(st.tombstones) != c.tombs {
				t.Errorf("files %v tombstones %d; want %v %d", got, len(st.tombstones), c.files, c.tombs)
			}
			s := &Snapshot{st: st}
			if txns := s.Txns(); len(txns) != len(c.txns) {
				t.Errorf("txns %v, want %v", txns, c.txns)
			} else {
				for k, v := range c.txns {
					if txns[k] != v {
						t.Errorf("txn %s = %d, want %d", k, txns[k], v)
					}
				}
			}
		})
	}
	t.Run("a file with a deletion vector is refused", func(t *testing.T) {
		err := newState().apply([]Action{{Add: &Add{Path: "a", DeletionVector: &DeletionVector{StorageType: "u"}}}})
		if !errors.Is(err, ErrUnsupportedProtocol) {
			t.Errorf("got %v", err)
		}
	})
}
