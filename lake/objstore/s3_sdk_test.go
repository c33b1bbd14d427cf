package objstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/shelflake/shelflake/lake/objstore"
	"github.com/shelflake/shelflake/lake/objstore/objtest"
)

func apiError(status int, code string) error {
	return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
		Err:      &smithy.GenericAPIError{Code: code, Message: "test"},
	}}
}

func TestS3RetryClassification(t *testing.T) {
	r := objstore.RetryerFor(objstore.S3Options{MaxAttempts: 8})
	urlErr := func(err error) error {
		return &url.Error{Op: "Put", URL: "http://127.0.0.1:1/b/k", Err: err}
	}
	for _, tc := range []struct {
		name  string
		err   error
		retry bool
	}{
		{"a 500 InternalError is retried", apiError(500, "InternalError"), true},
		{"a 503 SlowDown is retried", apiError(503, "SlowDown"), true},
		{"a 502 without a code is retried", apiError(502, ""), true},
		{"a 409 ConditionalRequestConflict is retried", apiError(409, "ConditionalRequestConflict"), true},
		{"a connection reset is retried", urlErr(&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), true},
		{"a broken pipe while sending is retried", urlErr(&net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EPIPE)}), true},
		{"a connection closed before the response is retried", urlErr(io.EOF), true},
		{"a truncated response is retried", fmt.Errorf("deserialize: %w", io.ErrUnexpectedEOF), true},
		{"a refused connection is retried", urlErr(&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), true},
		{"a 412 PreconditionFailed is final", apiError(412, "PreconditionFailed"), false},
		{"a 404 NoSuchKey is final", apiError(404, "NoSuchKey"), false},
		{"a 403 AccessDenied is final", apiError(403, "AccessDenied"), false},
		{"a cancelled context is final", &smithy.CanceledError{Err: context.Canceled}, false},
		{"an expired deadline is final", urlErr(context.DeadlineExceeded), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.IsErrorRetryable(tc.err); got != tc.retry {
				t.Fatalf("IsErrorRetryable(%v) = %v, want %v", tc.err, got, tc.retry)
			}
		})
	}
	if r.MaxAttempts() != 8 {
		t.Fatalf("max attempts %d", r.MaxAttempts())
	}
	t.Run("backoff grows with the attempt and stays under the cap", func(t *testing.T) {
		r := objstore.RetryerFor(objstore.S3Options{MaxAttempts: 8, RetryBaseDelay: 100 * time.Millisecond, RetryMaxBackoff: time.Second})
		for attempt := 1; attempt <= 10; attempt++ {
			bound := min(100*time.Millisecond<<(attempt-1), time.Second)
			for range 50 {
				d, err := r.RetryDelay(attempt, apiError(500, "InternalError"))
				if err != nil {
					t.Fatal(err)
				}
				if d < 0 || d >= bound {
					t.Fatalf("attempt %d: delay %v outside [0, %v)", attempt, d, bound)
				}
			}
		}
	})
}

// TestS3MultipartUploads checks that Put goes multipart beyond the part size
// (versitygw v1.8.0 accepts our checksum-free parts) and that a completion
// whose response was lost is recognised by the object's multipart ETag.
func TestS3MultipartUploads(t *testing.T) {
	srv := objtest.StartVersity(t)
	b := srv.NewBucket(t, srv.Bucket)
	ctx := t.Context()

	t.Run("objects beyond the part size are uploaded in parts", func(t *testing.T) {
		for _, tc := range []struct {
			size  int
			parts string // ETag suffix
		}{
			{objstore.MinS3PartSize, ""},
			{objstore.MinS3PartSize + 1, "-2"},
			{3*objstore.MinS3PartSize - 10, "-3"},
		} {
			key := fmt.Sprintf("mp/size-%d", tc.size)
			data := randBytes(uint64(tc.size), tc.size)
			if err := b.Put(ctx, key, bytes.NewReader(data)); err != nil {
				t.Fatalf("put %d bytes: %v", tc.size, err)
			}
			a, err := b.Stat(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			_, suffix, _ := strings.Cut(a.ETag, "-")
			if suffix != strings.TrimPrefix(tc.parts, "-") {
				t.Fatalf("%d bytes: etag %q, want part suffix %q", tc.size, a.ETag, tc.parts)
			}
			if got := readAll(t, b, key); !bytes.Equal(got, data) {
				t.Fatalf("%d bytes: content differs", tc.size)
			}
		}
	})

	t.Run("a lost completion is recognised by the multipart etag", func(t *testing.T) {
		// versitygw v1.8.0 answers any repeated completion with success once
		// the object exists, so a retry never sees NoSuchUpload there. AWS
		// S3 answers NoSuchUpload some time after the completion; a proxy
		// plays that part for upload ids starting with "gone-".
		up, err := url.Parse(srv.Endpoint)
		if err != nil {
			t.Fatal(err)
		}
		rp := httputil.NewSingleHostReverseProxy(up)
		gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Query().Get("uploadId"), "gone-") {
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(http.StatusNotFound)
				_, _ = io.WriteString(w, `<Error><Code>NoSuchUpload</Code><Message>gone</Message></Error>`)
				return
			}
			rp.ServeHTTP(w, r)
		}))
		defer gone.Close()
		b := srv.NewBucket(t, srv.Bucket, func(o *objstore.S3Options) { o.Endpoint = gone.URL })
		c := b.Client()
		key := "mp/recovered"
		upload, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(srv.Bucket), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		var parts []types.CompletedPart
		for i, size := range []int{objstore.MinS3PartSize, 1000} {
			out, err := c.UploadPart(ctx, &s3.UploadPartInput{
				Bucket: aws.String(srv.Bucket), Key: aws.String(key), UploadId: upload.UploadId,
				PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(randBytes(uint64(100+i), size)),
			})
			if err != nil {
				t.Fatal(err)
			}
			parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(int32(i + 1))})
		}
		complete := func(uploadID string, parts []types.CompletedPart) error {
			_, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
				Bucket: aws.String(srv.Bucket), Key: aws.String(key), UploadId: aws.String(uploadID),
				MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
			}, objstore.WithCompletedUploadRecovery(b))
			return err
		}
		if err := complete(*upload.UploadId, parts); err != nil {
			t.Fatal(err)
		}
		// The upload is gone now: a repeated completion with the same
		// parts (as a retry after a lost response) is answered NoSuchUpload
		// by S3, which the recovery resolves.
		if err := complete("gone-"+*upload.UploadId, parts); err != nil {
			t.Fatalf("completion of an upload that completed with our parts: %v, want success", err)
		}
		// Other parts than the object's are not ours.
		other := []types.CompletedPart{parts[0]}
		err = complete("gone-"+*upload.UploadId, other)
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "NoSuchUpload" {
			t.Fatalf("completion with different parts: %v, want NoSuchUpload", err)
		}
	})
}
