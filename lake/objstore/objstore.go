// Package objstore is shelflake's object storage: a small Bucket contract and
// its implementations for the local filesystem (file:// and plain paths) and S3.
package objstore

import (
	"context"
	"errors"
	"io"
	"time"
)

// ErrNotExist is returned (wrapped) by Get, GetRange and Stat for a missing key.
// Test with errors.Is.
var ErrNotExist = errors.New("object does not exist")

// ErrExists is returned (wrapped) by PutIfAbsent when the key already exists.
// Test with errors.Is. It is the signal a Delta commit lost its race.
var ErrExists = errors.New("object already exists")

// Attributes describe a stored object.
type Attributes struct {
	Key          string
	Size         int64
	LastModified time.Time
	// ETag identifies the object's content version; it changes when the object
	// is overwritten. For the local store it is derived from size and mtime.
	ETag string
}

// Bucket is a flat namespace of immutable-once-written objects addressed by
// slash-separated keys relative to the bucket's root (no leading slash; see
// ValidateKey for the rules every implementation enforces).
//
// Contract, for every implementation (objtest.AcceptanceTest checks it):
//   - Put writes the whole object or nothing: a reader never sees a partial
//     object, and a failed Put leaves any previous object unchanged. Put
//     overwrites. It is idempotent. (On S3 a Put that returns an error may
//     still have written the whole object, when the server applied a request
//     whose response was lost; it is never partial. Retry it, or treat the
//     object as a possible orphan.)
//   - PutIfAbsent writes only if no object has the key, atomically across
//     processes and machines; otherwise it returns ErrExists and writes nothing.
//     Exactly one of any number of concurrent PutIfAbsent calls for one key
//     succeeds. Retries inside one call are resolved by the implementation:
//     if an earlier attempt of the same call wrote the object, the call
//     succeeds. An error other than ErrExists leaves the outcome unknown; a
//     caller that retries such a call must treat ErrExists as "possibly
//     mine" and compare the stored bytes (PutIfAbsentVerified does), so data
//     must be unique to the writer (a Delta commit carries a unique id).
//   - Reads are strongly consistent after a successful write (read-after-write,
//     as AWS S3 and the local filesystem give): Get, Stat and List see it.
//   - Get and GetRange return ErrNotExist for a missing key. GetRange reads
//     length bytes from offset; length < 0 reads to the end; a range past the
//     end is cut at the end; an offset equal to the size reads nothing, an
//     offset beyond it is an error (not ErrNotExist).
//   - List calls fn for every key that starts with prefix, in lexical order,
//     with keys that live deeper than prefix included (a recursive listing).
//     Stopping early: fn returns an error, which List returns.
//   - Delete of a missing key is not an error (idempotent).
//   - Every method honours ctx: cancellation aborts the I/O and returns an
//     error wrapping ctx.Err(); readers returned by Get and GetRange stop
//     with it too.
//   - Errors name the bucket (String) and the key.
type Bucket interface {
	Put(ctx context.Context, key string, r io.Reader) error
	PutIfAbsent(ctx context.Context, key string, data []byte) error
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
	Stat(ctx context.Context, key string) (Attributes, error)
	List(ctx context.Context, prefix string, fn func(Attributes) error) error
	Delete(ctx context.Context, key string) error
	// String names the bucket for logs and errors (no credentials).
	String() string
	// Close releases the bucket's resources.
	Close() error
}
