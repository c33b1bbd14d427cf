package objstore_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/shelflake/shelflake/lake/objstore"
	"github.com/shelflake/shelflake/lake/objstore/objtest"
)

func testS3(t *testing.T, endpoint string) *objstore.S3 {
	t.Helper()
	b, err := objstore.NewS3(context.Background(), objstore.S3Options{
		Bucket: "lake", Endpoint: endpoint, PathStyle: true, Region: "us-east-1",
		Credentials:    credentials.NewStaticCredentialsProvider("k", "s", ""),
		RetryBaseDelay: 50 * time.Millisecond, RetryMaxBackoff: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestS3UnreachableEndpoint(t *testing.T) {
	t.Run("an endpoint that refuses on first contact fails at once with the cause first", func(t *testing.T) {
		endpoint := "http://" + objtest.ClosedAddr(t)
		b := testS3(t, endpoint)
		start := time.Now()
		_, err := b.Get(context.Background(), "_delta_log/00000000000000000000.json")
		took := time.Since(start)
		var ue *objstore.UnreachableError
		if !errors.As(err, &ue) {
			t.Fatalf("Get: %v, want an *UnreachableError", err)
		}
		if want := "cannot reach S3 endpoint " + endpoint + ": connection refused"; ue.Error() != want {
			t.Fatalf("error %q, want %q", ue.Error(), want)
		}
		// 8 attempts with backoff would take seconds; one takes milliseconds.
		if took > 2*time.Second {
			t.Fatalf("took %v: the refused connection was retried", took)
		}
	})
	t.Run("after the endpoint answered, a refused connection is retried", func(t *testing.T) {
		var hits atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, "x")
		}))
		b := testS3(t, srv.URL)
		rc, err := b.Get(context.Background(), "k")
		if err != nil {
			t.Fatal(err)
		}
		_ = rc.Close()
		srv.Close() // the server goes away: connections are now refused
		_, err = b.Get(context.Background(), "k")
		var ue *objstore.UnreachableError
		if err == nil || errors.As(err, &ue) {
			t.Fatalf("Get after the server stopped: %v, want a retried transport error", err)
		}
		if !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), "attempts") {
			t.Fatalf("Get after the server stopped: %v, want retries of connection refused", err)
		}
	})
}
