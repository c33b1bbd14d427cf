package objstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
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

// VerifyPutIfAbsent checks that b honours the PutIfAbsent contract: it
// writes a fresh scratch key, writes it again, and expects ErrExists; then
// it deletes the key. It returns an error wrapping ErrNoConditionalWrites
// when the second write succeeded, and other errors as they come (the
// store could not be written at all). Callers run it once per process and
// store before their first commit.
func VerifyPutIfAbsent(ctx context.Context, b Bucket) error {
	var id [12]byte
	_, _ = rand.Read(id[:])
	key := ProbePrefix + "put-if-absent-" + hex.EncodeToString(id[:])
	if err := b.PutIfAbsent(ctx, key, []byte("first\n")); err != nil {
		return fmt.Errorf("probe conditional writes in %s: %w", b, err)
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
