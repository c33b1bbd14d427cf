package objstore

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// tempPrefix starts the names of the local store's temporary files. No key
// segment may start with it, so a temporary file is never mistaken for an
// object.
const tempPrefix = ".tmp-"

// ValidateKey reports whether key is usable in every Bucket implementation:
// non-empty, slash-separated segments without a leading or trailing slash,
// no empty, "." or ".." segments, no backslash or NUL, and no segment that
// starts with ".tmp-" (reserved for the local store's temporary files).
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("invalid key %q: empty", key)
	}
	if strings.ContainsAny(key, "\\\x00") {
		return fmt.Errorf("invalid key %q: contains a backslash or NUL", key)
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch {
		case seg == "":
			return fmt.Errorf("invalid key %q: empty segment (leading, trailing or double slash)", key)
		case seg == "." || seg == "..":
			return fmt.Errorf("invalid key %q: %q segment", key, seg)
		case strings.HasPrefix(seg, tempPrefix):
			return fmt.Errorf("invalid key %q: segment starts with reserved %q", key, tempPrefix)
		}
	}
	return nil
}

// validatePrefix checks a List prefix: empty, or a key-like string that may
// end with a slash (and whose last segment may be partial).
func validatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	p := strings.TrimSuffix(prefix, "/")
	if p == "" {
		return fmt.Errorf("invalid prefix %q", prefix)
	}
	if err := ValidateKey(p); err != nil {
		return fmt.Errorf("invalid prefix %q: %w", prefix, err)
	}
	return nil
}

// ctxReader makes a reader honour ctx: each Read first checks for
// cancellation.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// ctxReadCloser is ctxReader with the underlying Close.
type ctxReadCloser struct {
	ctxReader
	io.Closer
}
