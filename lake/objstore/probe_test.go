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
