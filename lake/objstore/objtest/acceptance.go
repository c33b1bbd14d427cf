// Package objtest holds test harnesses for lake/objstore and the packages
// built on it: the Bucket acceptance test every implementation must pass, a
// versitygw S3 server started per test, and a fault-injecting proxy to put in
// front of it. It is imported by tests only.
package objtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shelflake/shelflake/lake/objstore"
)

// LargeObjectSize is the size of the acceptance test's large object: more
// than two 5 MiB parts, so an S3 bucket configured with the minimum part size
// uploads it in three parts.
const LargeObjectSize = 12<<20 + 12345

// AcceptanceTest checks that b keeps the objstore.Bucket contract. b may hold
// other objects: the test works under a fresh random prefix and deletes what
// it wrote. Every Bucket implementation runs it.
func AcceptanceTest(t *testing.T, b objstore.Bucket) {
	t.Helper()
	base := "acceptance-" + randomHex(t, 6) + "/"
	t.Cleanup(func() {
		// Best effort: leave the bucket as found.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var keys []string
		_ = b.List(ctx, base, func(a objstore.Attributes) error {
			keys = append(keys, a.Key)
			return nil
		})
		for _, k := range keys {
			_ = b.Delete(ctx, k)
		}
	})

	t.Run("put then get returns the bytes written", func(t *testing.T) {
		ctx := t.Context()
		key := base + "put/obj"
		data := randomBytes(t, 1000)
		mustPut(t, b, key, data)
		if got := mustGet(t, b, key); !bytes.Equal(got, data) {
			t.Fatalf("get %s: got %d bytes, want the %d bytes written", key, len(got), len(data))
		}
		a, err := b.Stat(ctx, key)
		if err != nil {
			t.Fatalf("stat %s: %v", key, err)
		}
		if a.Key != key || a.Size != int64(len(data)) || a.ETag == "" {
			t.Fatalf("stat %s = %+v, want key %q, size %d and an etag", key, a, key, len(data))
		}
		if d := time.Since(a.LastModified); d < -time.Hour || d > time.Hour {
			t.Fatalf("stat %s: last modified %v is not about now", key, a.LastModified)
		}
	})

	t.Run("put overwrites and changes the etag", func(t *testing.T) {
		ctx := t.Context()
		key := base + "overwrite/obj"
		mustPut(t, b, key, []byte("first version"))
		a1, err := b.Stat(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		second := []byte("second, longer version")
		mustPut(t, b, key, second)
		if got := mustGet(t, b, key); !bytes.Equal(got, second) {
			t.Fatalf("get after overwrite = %q, want %q", got, second)
		}
		a2, err := b.Stat(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if a1.ETag == a2.ETag {
			t.Fatalf("etag %q did not change on overwrite", a1.ETag)
		}
		if a2.Size != int64(len(second)) {
			t.Fatalf("size after overwrite = %d, want %d", a2.Size, len(second))
		}
	})

	t.Run("an empty object can be written and read", func(t *testing.T) {
		key := base + "empty"
		mustPut(t, b, key, nil)
		if got := mustGet(t, b, key); len(got) != 0 {
			t.Fatalf("get empty object: %d bytes", len(got))
		}
		a, err := b.Stat(t.Context(), key)
		if err != nil || a.Size != 0 {
			t.Fatalf("stat empty object = %+v, %v; want size 0", a, err)
		}
		rc, err := b.GetRange(t.Context(), key, 0, -1)
		if err != nil {
			t.Fatalf("get range of empty object: %v", err)
		}
		got, err := io.ReadAll(rc)
		_ = rc.Close()
		if err != nil || len(got) != 0 {
			t.Fatalf("read range of empty object: %d bytes, %v", len(got), err)
		}
	})

	t.Run("missing keys report ErrNotExist", func(t *testing.T) {
		ctx := t.Context()
		for _, key := range []string{base + "missing", base + "missing/deeper/key"} {
			if _, err := b.Get(ctx, key); !errors.Is(err, objstore.ErrNotExist) {
				t.Errorf("get %s: err = %v, want ErrNotExist", key, err)
			}
			if _, err := b.GetRange(ctx, key, 1, 2); !errors.Is(err, objstore.ErrNotExist) {
				t.Errorf("get range %s: err = %v, want ErrNotExist", key, err)
			}
			if _, err := b.Stat(ctx, key); !errors.Is(err, objstore.ErrNotExist) {
				t.Errorf("stat %s: err = %v, want ErrNotExist", key, err)
			}
		}
		// A key that is only a prefix of other keys is not an object.
		mustPut(t, b, base+"dir/child", []byte("x"))
		if _, err := b.Stat(ctx, base+"dir"); !errors.Is(err, objstore.ErrNotExist) {
			t.Errorf("stat of a mere prefix: err = %v, want ErrNotExist", err)
		}
		if _, err := b.Get(ctx, base+"dir"); !errors.Is(err, objstore.ErrNotExist) {
			t.Errorf("get of a mere prefix: err = %v, want ErrNotExist", err)
		}
	})

	t.Run("get range returns the requested bytes", func(t *testing.T) {
		key := base + "range/obj"
		data := randomBytes(t, 100)
		mustPut(t, b, key, data)
		for _, tc := range []struct {
			name           string
			offset, length int64
			want           []byte
		}{
			{"whole object with negative length", 0, -1, data},
			{"a slice in the middle", 10, 20, data[10:30]},
			{"zero length", 5, 0, nil},
			{"the tail from an offset", 90, -1, data[90:]},
			{"a length past the end is cut at the end", 95, 50, data[95:]},
			{"the last byte", 99, 1, data[99:]},
			{"an offset at the end reads nothing", 100, -1, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				rc, err := b.GetRange(t.Context(), key, tc.offset, tc.length)
				if err != nil {
					t.Fatalf("get range (%d, %d): %v", tc.offset, tc.length, err)
				}
				got, err := io.ReadAll(rc)
				if cerr := rc.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					t.Fatalf("read range (%d, %d): %v", tc.offset, tc.length, err)
				}
				if !bytes.Equal(got, tc.want) {
					t.Fatalf("range (%d, %d) = %x, want %x", tc.offset, tc.length, got, tc.want)
				}
			})
		}
		if _, err := b.GetRange(t.Context(), key, 101, 1); err == nil {
			t.Error("get range with offset past the end: no error")
		} else if errors.Is(err, objstore.ErrNotExist) {
			t.Errorf("get range with offset past the end: %v, want an error other than ErrNotExist", err)
		}
		if _, err := b.GetRange(t.Context(), key, -1, 1); err == nil {
			t.Error("get range with negative offset: no error")
		}
	})

	t.Run("list returns keys in lexical order with prefix semantics", func(t *testing.T) {
		p := base + "list/"
		// Chosen so that a directory walk in name order would get the order
		// wrong: '-' < '/' < '0'.
		keys := []string{"b", "a/c/d", "ab", "a0", "a/b", "a-c", "a.txt"}
		for i, k := range keys {
			mustPut(t, b, p+k, bytes.Repeat([]byte{'x'}, i+1))
		}
		for _, tc := range []struct {
			name, prefix string
			want         []string
		}{
			{"the list prefix returns every key in order", p, []string{"a-c", "a.txt", "a/b", "a/c/d", "a0", "ab", "b"}},
			{"a partial segment matches keys and deeper keys", p + "a", []string{"a-c", "a.txt", "a/b", "a/c/d", "a0", "ab"}},
			{"a trailing slash lists one level and deeper", p + "a/", []string{"a/b", "a/c/d"}},
			{"a deeper partial prefix", p + "a/c", []string{"a/c/d"}},
			{"an exact key lists itself", p + "a/c/d", []string{"a/c/d"}},
			{"a prefix of one key", p + "ab", []string{"ab"}},
			{"a prefix matching nothing", p + "c", nil},
			{"a missing directory", p + "zz/", nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var got []string
				err := b.List(t.Context(), tc.prefix, func(a objstore.Attributes) error {
					k, ok := strings.CutPrefix(a.Key, p)
					if !ok {
						return fmt.Errorf("listed key %q outside prefix %q", a.Key, tc.prefix)
					}
					i := slices.Index(keys, k)
					if i < 0 || a.Size != int64(i+1) || a.ETag == "" {
						return fmt.Errorf("listed %+v, want size %d and an etag", a, i+1)
					}
					got = append(got, k)
					return nil
				})
				if err != nil {
					t.Fatalf("list %q: %v", tc.prefix, err)
				}
				if !slices.Equal(got, tc.want) {
					t.Fatalf("list %q = %q, want %q", tc.prefix, got, tc.want)
				}
			})
		}
		t.Run("the empty prefix lists the whole bucket in order", func(t *testing.T) {
			var all []string
			if err := b.List(t.Context(), "", func(a objstore.Attributes) error {
				all = append(all, a.Key)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if !slices.IsSorted(all) {
				t.Fatalf("whole-bucket listing is not sorted: %q", all)
			}
			for _, k := range keys {
				if !slices.Contains(all, p+k) {
					t.Fatalf("whole-bucket listing lacks %q", p+k)
				}
			}
		})
		t.Run("list stops when fn returns an error", func(t *testing.T) {
			stop := errors.New("stop here")
			n := 0
			err := b.List(t.Context(), p, func(objstore.Attributes) error {
				n++
				if n == 2 {
					return stop
				}
				return nil
			})
			if !errors.Is(err, stop) {
				t.Fatalf("list err = %v, want the error fn returned", err)
			}
			if n != 2 {
				t.Fatalf("fn called %d times after returning an error at call 2", n)
			}
		})
	})

	t.Run("delete is idempotent and hides the object", func(t *testing.T) {
		ctx := t.Context()
		key := base + "delete/obj"
		mustPut(t, b, key, []byte("doomed"))
		for i := range 2 {
			if err := b.Delete(ctx, key); err != nil {
				t.Fatalf("delete #%d: %v", i+1, err)
			}
		}
		if err := b.Delete(ctx, base+"delete/never-existed"); err != nil {
			t.Fatalf("delete of a key never written: %v", err)
		}
		if _, err := b.Get(ctx, key); !errors.Is(err, objstore.ErrNotExist) {
			t.Fatalf("get after delete: %v, want ErrNotExist", err)
		}
		if got := listKeys(t, b, base+"delete/"); len(got) != 0 {
			t.Fatalf("list after delete = %q, want nothing", got)
		}
		// The key can be written again, also with put-if-absent.
		if err := b.PutIfAbsent(ctx, key, []byte("again")); err != nil {
			t.Fatalf("put-if-absent after delete: %v", err)
		}
	})

	t.Run("put-if-absent writes only once", func(t *testing.T) {
		ctx := t.Context()
		key := base + "pia/once"
		first := []byte("the first writer")
		if err := b.PutIfAbsent(ctx, key, first); err != nil {
			t.Fatalf("first put-if-absent: %v", err)
		}
		err := b.PutIfAbsent(ctx, key, []byte("the second writer"))
		if !errors.Is(err, objstore.ErrExists) {
			t.Fatalf("second put-if-absent: err = %v, want ErrExists", err)
		}
		if got := mustGet(t, b, key); !bytes.Equal(got, first) {
			t.Fatalf("content after a refused put-if-absent = %q, want %q", got, first)
		}
		// Put (unconditional) still overwrites.
		mustPut(t, b, key, []byte("overwritten"))
		if got := mustGet(t, b, key); string(got) != "overwritten" {
			t.Fatalf("put after put-if-absent: content %q", got)
		}
	})

	t.Run("put-if-absent lets exactly one of 16 concurrent callers win", func(t *testing.T) {
		ctx := t.Context()
		for round := range 3 {
			key := fmt.Sprintf("%spia/race-%d", base, round)
			const n = 16
			errs := make([]error, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					errs[i] = b.PutIfAbsent(ctx, key, []byte(fmt.Sprintf("writer %02d", i)))
				})
			}
			close(start)
			wg.Wait()
			winner := -1
			for i, err := range errs {
				switch {
				case err == nil:
					if winner >= 0 {
						t.Fatalf("round %d: writers %d and %d both won", round, winner, i)
					}
					winner = i
				case errors.Is(err, objstore.ErrExists):
				default:
					t.Fatalf("round %d: writer %d: %v", round, i, err)
				}
			}
			if winner < 0 {
				t.Fatalf("round %d: no writer won", round)
			}
			if got, want := string(mustGet(t, b, key)), fmt.Sprintf("writer %02d", winner); got != want {
				t.Fatalf("round %d: content %q, want the winner's %q", round, got, want)
			}
		}
	})

	t.Run("a large object streamed from a plain reader round-trips", func(t *testing.T) {
		ctx := t.Context()
		key := base + "large/obj"
		data := randomBytes(t, LargeObjectSize)
		if err := b.Put(ctx, key, onlyReader{bytes.NewReader(data)}); err != nil {
			t.Fatalf("put large object: %v", err)
		}
		a, err := b.Stat(ctx, key)
		if err != nil || a.Size != int64(len(data)) {
			t.Fatalf("stat large object = %+v, %v; want size %d", a, err, len(data))
		}
		if got := mustGet(t, b, key); sha256.Sum256(got) != sha256.Sum256(data) {
			t.Fatalf("large object content differs (%d bytes read, %d written)", len(got), len(data))
		}
		off := int64(5<<20 - 7) // across a 5 MiB part boundary
		rc, err := b.GetRange(ctx, key, off, 20)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		_ = rc.Close()
		if err != nil || !bytes.Equal(got, data[off:off+20]) {
			t.Fatalf("range across a part boundary = %x, %v; want %x", got, err, data[off:off+20])
		}
	})

	t.Run("a failed put leaves the previous object", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			size int
		}{
			{"small object", 1 << 10},
			{"object larger than two parts", 11 << 20},
		} {
			t.Run(tc.name, func(t *testing.T) {
				key := base + "failed-put/" + strings.ReplaceAll(tc.name, " ", "-")
				old := []byte("the previous object")
				mustPut(t, b, key, old)
				boom := errors.New("reader broke")
				r := io.MultiReader(bytes.NewReader(randomBytes(t, tc.size)), errReader{boom})
				if err := b.Put(t.Context(), key, r); err == nil {
					t.Fatal("put from a failing reader: no error")
				}
				if got := mustGet(t, b, key); !bytes.Equal(got, old) {
					t.Fatalf("after a failed put the object is %d bytes, want the previous %q", len(got), old)
				}
				if got := listKeys(t, b, key); !slices.Equal(got, []string{key}) {
					t.Fatalf("after a failed put list shows %q, want only %q", got, key)
				}
			})
		}
	})

	t.Run("a cancelled context aborts every method", func(t *testing.T) {
		key := base + "cancel/obj"
		mustPut(t, b, key, randomBytes(t, 1<<20))
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		check := func(op string, err error) {
			t.Helper()
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s with a cancelled context: err = %v, want context.Canceled", op, err)
			}
		}
		check("put", b.Put(ctx, base+"cancel/new", bytes.NewReader([]byte("x"))))
		check("put-if-absent", b.PutIfAbsent(ctx, base+"cancel/new", []byte("x")))
		_, err := b.Get(ctx, key)
		check("get", err)
		_, err = b.GetRange(ctx, key, 0, 10)
		check("get range", err)
		_, err = b.Stat(ctx, key)
		check("stat", err)
		check("list", b.List(ctx, base, func(objstore.Attributes) error { return nil }))
		check("delete", b.Delete(ctx, key))
		if _, err := b.Stat(t.Context(), base+"cancel/new"); !errors.Is(err, objstore.ErrNotExist) {
			t.Errorf("a cancelled put wrote an object (stat err %v)", err)
		}
		if _, err := b.Stat(t.Context(), key); err != nil {
			t.Errorf("a cancelled delete removed the object: %v", err)
		}
	})

	t.Run("cancelling during a put writes nothing", func(t *testing.T) {
		key := base + "cancel/midway"
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		r := io.MultiReader(
			bytes.NewReader(randomBytes(t, 1<<20)),
			cancelReader{cancel},
			bytes.NewReader(randomBytes(t, 1<<20)),
		)
		if err := b.Put(ctx, key, r); !errors.Is(err, context.Canceled) {
			t.Fatalf("put cancelled midway: err = %v, want context.Canceled", err)
		}
		if _, err := b.Stat(t.Context(), key); !errors.Is(err, objstore.ErrNotExist) {
			t.Fatalf("put cancelled midway left an object (stat err %v)", err)
		}
	})

	t.Run("cancelling during a read stops the read", func(t *testing.T) {
		key := base + "cancel/read"
		mustPut(t, b, key, randomBytes(t, 4<<20))
		ctx, cancel := context.WithCancel(t.Context())
		rc, err := b.Get(ctx, key)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		defer rc.Close()
		if _, err := io.ReadFull(rc, make([]byte, 10)); err != nil {
			cancel()
			t.Fatal(err)
		}
		cancel()
		if n, err := io.Copy(io.Discard, rc); !errors.Is(err, context.Canceled) {
			t.Fatalf("read after cancel: %d bytes, err = %v; want context.Canceled", n, err)
		}
	})

	t.Run("invalid keys are rejected", func(t *testing.T) {
		for _, key := range []string{"", "/abs", "a//b", "trailing/", "a/../b", "./a", `back\slash`, "a/.tmp-x"} {
			if err := b.Put(t.Context(), key, strings.NewReader("x")); err == nil {
				t.Errorf("put %q: no error", key)
			}
			if err := b.PutIfAbsent(t.Context(), key, []byte("x")); err == nil || errors.Is(err, objstore.ErrExists) {
				t.Errorf("put-if-absent %q: err = %v, want an invalid-key error", key, err)
			}
		}
	})
}

// onlyReader hides every method but Read (no Seek, no WriterTo), as a
// network stream would.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// cancelReader cancels a context when first read, then reads as empty.
type cancelReader struct{ cancel context.CancelFunc }

func (c cancelReader) Read([]byte) (int, error) {
	c.cancel()
	return 0, io.EOF
}

func mustPut(t testing.TB, b objstore.Bucket, key string, data []byte) {
	t.Helper()
	if err := b.Put(t.Context(), key, bytes.NewReader(data)); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func mustGet(t testing.TB, b objstore.Bucket, key string) []byte {
	t.Helper()
	rc, err := b.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	data, err := io.ReadAll(rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return data
}

func listKeys(t testing.TB, b objstore.Bucket, prefix string) []string {
	t.Helper()
	var keys []string
	if err := b.List(t.Context(), prefix, func(a objstore.Attributes) error {
		keys = append(keys, a.Key)
		return nil
	}); err != nil {
		t.Fatalf("list %q: %v", prefix, err)
	}
	return keys
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func randomHex(t testing.TB, n int) string {
	return fmt.Sprintf("%x", randomBytes(t, n))
}
