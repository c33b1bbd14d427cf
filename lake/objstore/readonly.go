package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// ErrReadOnly is returned (wrapped) by the writes of a ReadOnly bucket.
var ErrReadOnly = errors.New("bucket opened read-only")

// ReadOnly is a Bucket that reads through to another one and refuses every
// write (Put, PutIfAbsent, Delete) with ErrReadOnly, before any I/O.
type ReadOnly struct {
	b Bucket
}

var _ Bucket = (*ReadOnly)(nil)

// NewReadOnly returns b without its writes. Close closes b.
func NewReadOnly(b Bucket) *ReadOnly { return &ReadOnly{b: b} }

// String names the underlying bucket.
func (r *ReadOnly) String() string { return r.b.String() }

// Close closes the underlying bucket.
func (r *ReadOnly) Close() error { return r.b.Close() }

// Put refuses.
func (r *ReadOnly) Put(_ context.Context, key string, _ io.Reader) error {
	return fmt.Errorf("put %s in %s: %w", key, r, ErrReadOnly)
}

// PutIfAbsent refuses.
func (r *ReadOnly) PutIfAbsent(_ context.Context, key string, _ []byte) error {
	return fmt.Errorf("put-if-absent %s in %s: %w", key, r, ErrReadOnly)
}

// Delete refuses.
func (r *ReadOnly) Delete(_ context.Context, key string) error {
	return fmt.Errorf("delete %s in %s: %w", key, r, ErrReadOnly)
}

// Get reads through.
func (r *ReadOnly) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	return r.b.Get(ctx, key)
}

// GetRange reads through.
func (r *ReadOnly) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	return r.b.GetRange(ctx, key, offset, length)
}

// Stat reads through.
func (r *ReadOnly) Stat(ctx context.Context, key string) (Attributes, error) {
	return r.b.Stat(ctx, key)
}

// List reads through.
func (r *ReadOnly) List(ctx context.Context, prefix string, fn func(Attributes) error) error {
	return r.b.List(ctx, prefix, fn)
}

// LocalFile passes through to the wrapped bucket.
func (r *ReadOnly) LocalFile(key string) (string, bool) {
	if lf, ok := r.b.(LocalFiles); ok {
		return lf.LocalFile(key)
	}
	return "", false
}
