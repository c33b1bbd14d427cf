package objstore_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/shelflake/shelflake/lake/objstore"
	"github.com/shelflake/shelflake/lake/objstore/objtest"
)

// ignoringS3 is an S3 endpoint that stores objects but ignores
// If-None-Match, as some S3-compatible stores did before conditional
// writes: every PUT overwrites. It checks no signature.
func ignoringS3(t *testing.T) string {
	t.Helper()
	var mu sync.Mutex
	objs := map[string][]byte{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch r.Method {
		case http.MethodPut:
			b, _ := io.ReadAll(r.Body)
			objs[r.URL.Path] = b
			w.Header().Set("ETag", `"x"`)
		case http.MethodDelete:
			delete(objs, r.URL.Path)
			w.WriteHeader(http.StatusNoContent)
		default:
			http.Error(w, "not implemented", http.StatusNotImplemented)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestVerifyPutIfAbsent(t *testing.T) {
	ctx := context.Background()
	t.Run("the local store honours it", func(t *testing.T) {
		b, err := objstore.NewLocal(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if err := objstore.VerifyPutIfAbsent(ctx, b); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("versitygw honours it, and the probe leaves nothing behind", func(t *testing.T) {
		srv := objtest.StartVersity(t)
		srv.CreateBucket(t, "probe")
		b := srv.NewBucket(t, "probe")
		if err := objstore.VerifyPutIfAbsent(ctx, b); err != nil {
			t.Fatal(err)
		}
		var left []string
		if err := b.List(ctx, objstore.ProbePrefix, func(a objstore.Attributes) error { left = append(left, a.Key); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(left) > 0 {
			t.Fatalf("probe objects left: %v", left)
		}
	})
	t.Run("a store that ignores If-None-Match is refused", func(t *testing.T) {
		b := testS3(t, ignoringS3(t))
		err := objstore.VerifyPutIfAbsent(ctx, b)
		if !errors.Is(err, objstore.ErrNoConditionalWrites) || !strings.Contains(err.Error(), "conditional writes") {
			t.Fatalf("VerifyPutIfAbsent: %v, want ErrNoConditionalWrites", err)
		}
	})
}

// flakyBucket fails its first fails PutIfAbsent calls, as a store does
// whose backend races with itself (versitygw's posix backend once
// answered 409 ExistingObjectIsDirectory to a probe while another process
// removed the emptied probe directory).
type flakyBucket struct {
	objstore.Bucket
	fails int
	puts  int
}

func (f *flakyBucket) PutIfAbsent(ctx context.Context, key string, b []byte) error {
	f.puts++
	if f.puts <= f.fails {
		return errors.New("409 ExistingObjectIsDirectory")
	}
	return f.Bucket.PutIfAbsent(ctx, key, b)
}

func TestAProbeWriteThatFailsIsRetried(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fails int
		ok    bool
	}{
		{"once", 1, true},
		{"twice", 2, true},
		{"every time", 1000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			local, err := objstore.NewLocal(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			b := &flakyBucket{Bucket: local, fails: tc.fails}
			err = objstore.VerifyPutIfAbsent(t.Context(), b)
			if tc.ok != (err == nil) {
				t.Fatalf("VerifyPutIfAbsent: %v", err)
			}
			if !tc.ok && (b.puts != 3 || !strings.Contains(err.Error(), "ExistingObjectIsDirectory")) {
				t.Fatalf("%d writes, error %v: want 3 attempts and the store's error", b.puts, err)
			}
		})
	}
}
