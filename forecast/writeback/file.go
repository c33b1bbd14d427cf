package writeback

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shelflake/shelflake/schema"
)

// FileChannel writes each document as JSON and CSV files for planners who
// import by hand: <dir>/dt=<as-of>/<location>_<supplier>_<key>.json and
// .csv, each written to a temporary name, synced and renamed into place.
type FileChannel struct{ dir string }

// NewFileChannel returns a channel writing under dir (created if missing;
// made absolute).
func NewFileChannel(dir string) (*FileChannel, error) {
	if dir == "" {
		return nil, errors.New("file write-back: no directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("file write-back: %w", err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("file write-back: %w", err)
	}
	return &FileChannel{dir: abs}, nil
}

// Name implements Channel: "file:" and the absolute directory, so that a
// document accepted into one outbox directory is not counted as delivered
// to another (erp_writeback_log records it under that name).
func (f *FileChannel) Name() string { return "file:" + f.dir }

// FileName returns the base name (without extension) of d's files.
func FileName(d *Document) string {
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == '/' || r == '\\' || r == 0 || r == ':' {
				return '_'
			}
			return r
		}, s)
	}
	return clean(d.LocationID) + "_" + clean(d.SupplierID) + "_" + d.ExternalRef
}

// Send implements Channel.
func (f *FileChannel) Send(ctx context.Context, docs []Outgoing) []Result {
	res := make([]Result, len(docs))
	for i, o := range docs {
		start := time.Now()
		res[i] = Result{Attempts: 1, First: start}
		err := ctx.Err()
		var rel string
		if err == nil {
			rel, err = f.write(o)
		}
		res[i].Last = time.Now()
		if err != nil {
			res[i].Status, res[i].Err = schema.WritebackFailed, err
			continue
		}
		res[i].Status, res[i].Response = schema.WritebackAccepted, rel
	}
	return res
}

func (f *FileChannel) write(o Outgoing) (string, error) {
	sub := "dt=" + o.Doc.AsOf.String()
	dir := filepath.Join(f.dir, sub)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	base := FileName(o.Doc)
	csv, err := o.Doc.CSV()
	if err != nil {
		return "", err
	}
	if err := writeFileAtomic(filepath.Join(dir, base+".json"), o.JSON); err != nil {
		return "", err
	}
	if err := writeFileAtomic(filepath.Join(dir, base+".csv"), csv); err != nil {
		return "", err
	}
	return sub + "/" + base + ".json", nil
}

// writeFileAtomic writes data to path through a synced temporary file and a
// rename, then syncs the directory.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", filepath.Dir(path), err)
	}
	return nil
}
