package world

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/shelflake/shelflake/schema"
)

// Record is one message: a value on a topic under a key, exactly as it goes
// to Kafka.
type Record struct {
	Topic string
	Key   []byte
	Value []byte
}

// Sink receives the generator's records.
//
// Contract: Write hands over records in publication order (per topic, the
// order of that topic's stream; per key, world-time order). Write may keep the
// slices of recs after it returns: the generator never modifies them. Records
// written are not guaranteed durable until Flush returns nil. The generator
// never calls Write or Flush concurrently, and never closes the sink (its
// owner does).
type Sink interface {
	Write(ctx context.Context, recs []Record) error
	Flush(ctx context.Context) error
}

// DirSink writes each topic to <dir>/<topic>.jsonl, one value per line. Files
// are written under temporary names and renamed into place by Close, so a
// directory never holds a half-written stream under its final name.
type DirSink struct {
	dir   string
	files map[string]*dirFile // lookup only, never iterated
	order []*dirFile
}

type dirFile struct {
	final, tmp string
	f          *os.File
	w          *bufio.Writer
}

// NewDirSink creates dir if needed and opens a file for each of schema.Topics
// (so every stream exists, even empty); other topics get files as they come.
func NewDirSink(dir string) (*DirSink, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create output dir: %w", err)
	}
	s := &DirSink{dir: dir, files: map[string]*dirFile{}}
	for _, t := range schema.Topics {
		if _, err := s.file(t); err != nil {
			s.Abort()
			return nil, err
		}
	}
	return s, nil
}

func (s *DirSink) file(topic string) (*dirFile, error) {
	if f, ok := s.files[topic]; ok {
		return f, nil
	}
	if topic == "" || topic != filepath.Base(topic) || topic[0] == '.' {
		return nil, fmt.Errorf("topic %q: not usable as a file name", topic)
	}
	final := filepath.Join(s.dir, topic+".jsonl")
	tmp := final + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", tmp, err)
	}
	df := &dirFile{final: final, tmp: tmp, f: f, w: bufio.NewWriterSize(f, 1<<20)}
	s.files[topic] = df
	s.order = append(s.order, df)
	return df, nil
}

// Write appends each record's value and a newline to its topic's file. Keys
// are not written (they are in the values). A value holding a newline is an
// error: the files are one record per line.
func (s *DirSink) Write(_ context.Context, recs []Record) error {
	for _, r := range recs {
		if bytes.IndexByte(r.Value, '\n') >= 0 {
			return fmt.Errorf("topic %s: value holds a newline", r.Topic)
		}
		f, err := s.file(r.Topic)
		if err != nil {
			return err
		}
		f.w.Write(r.Value)
		if err := f.w.WriteByte('\n'); err != nil {
			return fmt.Errorf("write %s: %w", f.tmp, err)
		}
	}
	return nil
}

// Flush writes buffered data to the files.
func (s *DirSink) Flush(context.Context) error {
	for _, f := range s.order {
		if err := f.w.Flush(); err != nil {
			return fmt.Errorf("write %s: %w", f.tmp, err)
		}
	}
	return nil
}

// Close flushes, syncs and closes the files and renames them into place.
func (s *DirSink) Close() error {
	var errs []error
	for _, f := range s.order {
		if err := f.w.Flush(); err != nil {
			errs = append(errs, fmt.Errorf("write %s: %w", f.tmp, err))
		}
		if err := f.f.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("sync %s: %w", f.tmp, err))
		}
		if err := f.f.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", f.tmp, err))
		}
	}
	if len(errs) > 0 {
		s.removeTemps()
		return errors.Join(errs...)
	}
	for _, f := range s.order {
		if err := os.Rename(f.tmp, f.final); err != nil {
			errs = append(errs, fmt.Errorf("rename %s: %w", f.tmp, err))
		}
	}
	if err := syncDir(s.dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Abort closes and removes the temporary files, leaving no stream behind.
func (s *DirSink) Abort() {
	for _, f := range s.order {
		f.f.Close()
	}
	s.removeTemps()
}

func (s *DirSink) removeTemps() {
	for _, f := range s.order {
		os.Remove(f.tmp)
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// MemSink keeps every record in memory, in order: for tests and small
// worlds that are decoded straight into lake rows.
type MemSink struct{ Records []Record }

// Write appends recs.
func (m *MemSink) Write(_ context.Context, recs []Record) error {
	m.Records = append(m.Records, recs...)
	return nil
}

// Flush does nothing: the records are already kept.
func (m *MemSink) Flush(context.Context) error { return nil }
