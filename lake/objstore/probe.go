package objstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// ErrNoConditionalWrites is returned (wrapped) by VerifyPutIfAbsent when a
// store overwrote an existing object on a PutIfAbsent: it ignores
// "If-None-Match: *". On such a store two writers of one Delta version both
// succeed and one commit silently replaces the other, so the fences that
// make ingest exactly-once protect nothing.
var ErrNoConditionalWrites = errors.New("the store ignores If-None-Match: * (conditional writes): it overwrote an existing object, so concurrent Delta commits would overwrite each other")

// ProbePrefix is where VerifyPutIfAbsent writes its scratch objects; no
// table lives under it.
const ProbePrefix = "_shelflake/probe/"

// probeAttempts bounds the first writes of one probe.
const probeAttempts = 3

// VerifyPutIfAbsent checks that b honours the PutIfAbsent contract: it
// writes a fresh scratch key, writes it again, and expects ErrExists; then
// it deletes the key. It returns an error wrapping ErrNoConditionalWrites
// when the second write succeeded, and other errors as they come (the
// store could not be written at all). Callers run it once per process and
// store before their first commit.
func VerifyPutIfAbsent(ctx context.Context, b Bucket) error {
	var key string
	// The first write of a fresh key can only fail on the store's side;
	// a store whose backend races with itself (versitygw's posix backend
	// when processes open one lake at once) is given probeAttempts, each
	// with a fresh key.
	for attempt := 1; ; attempt++ {
		var id [12]byte
		_, _ = rand.Read(id[:])
		key = ProbePrefix + "put-if-absent-" + hex.EncodeToString(id[:])
		err := b.PutIfAbsent(ctx, key, []byte("first\n"))
		if err == nil {
			break
		}
		if attempt == probeAttempts || ctx.Err() != nil {
			return fmt.Errorf("probe conditional writes in %s: %w", b, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("probe conditional writes in %s: %w", b, ctx.Err())
		case <-time.After(time.Duration(attempt) * 50 * time.Millisecond):
		}
	}
	err := b.PutIfAbsent(ctx, key, []byte("second\n"))
	if derr := b.Delete(context.WithoutCancel(ctx), key); derr != nil && err == nil {
		err = derr
	}
	switch {
	case errors.Is(err, ErrExists):
		return nil
	case err == nil:
		return fmt.Errorf("%s: %w; use a store that supports conditional writes (AWS S3, MinIO, versitygw, Ceph RGW recent versions)", b, ErrNoConditionalWrites)
	default:
		return fmt.Errorf("probe conditional writes in %s: %w", b, err)
	}
}
