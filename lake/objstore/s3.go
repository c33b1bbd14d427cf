package objstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

// S3Options configure an S3 bucket. Zero fields take the defaults named in
// their comments.
type S3Options struct {
	// Bucket is the S3 bucket name. Required.
	Bucket string
	// Endpoint is the S3 endpoint URL, e.g. "http://127.0.0.1:7070". Empty
	// means the SDK's choice: AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL if set,
	// else AWS.
	Endpoint string
	// Region is the signing region. Empty means the default chain's
	// (AWS_REGION, the shared config profile), else "us-east-1".
	Region string
	// PathStyle addresses the bucket as <endpoint>/<bucket>/<key> instead of
	// <bucket>.<endpoint>/<key>; needed by most S3-compatible servers.
	PathStyle bool
	// Credentials overrides the SDK's default credential chain (environment,
	// shared files, web identity, ECS/EC2 roles) when set.
	Credentials aws.CredentialsProvider

	// MaxAttempts bounds the attempts per request (default 8), retried with
	// full-jitter exponential backoff on 5xx, SlowDown/throttling, 409
	// ConditionalRequestConflict, connection resets, unexpected EOFs and
	// timeouts.
	MaxAttempts int
	// RetryBaseDelay is the first retry's maximum backoff (default 100ms); it
	// doubles per attempt, up to RetryMaxBackoff. Throttling answers
	// (503 SlowDown) back off from 4×RetryBaseDelay.
	RetryBaseDelay time.Duration
	// RetryMaxBackoff caps one backoff (default 5s).
	RetryMaxBackoff time.Duration
	// ResponseHeaderTimeout bounds the wait for a response's headers after
	// the request was sent (default 60s); an attempt that times out is retried.
	ResponseHeaderTimeout time.Duration

	// PartSize is the multipart upload part size (default 16 MiB, minimum
	// 5 MiB); Put uploads objects up to this size with a single PutObject.
	PartSize int64
	// Concurrency is the number of parts of one Put uploaded in parallel
	// (default 4). A Put buffers up to Concurrency+1 parts in memory.
	Concurrency int
}

// Defaults of S3Options.
const (
	DefaultS3MaxAttempts           = 8
	DefaultS3RetryBaseDelay        = 100 * time.Millisecond
	DefaultS3RetryMaxBackoff       = 5 * time.Second
	DefaultS3ResponseHeaderTimeout = 60 * time.Second
	DefaultS3PartSize              = 16 << 20
	MinS3PartSize                  = 5 << 20 // the S3 minimum (manager.MinUploadPartSize)
	DefaultS3Concurrency           = 4
	defaultS3Region                = "us-east-1"
)

func (o *S3Options) setDefaults() {
	if o.MaxAttempts == 0 {
		o.MaxAttempts = DefaultS3MaxAttempts
	}
	if o.RetryBaseDelay == 0 {
		o.RetryBaseDelay = DefaultS3RetryBaseDelay
	}
	if o.RetryMaxBackoff == 0 {
		o.RetryMaxBackoff = DefaultS3RetryMaxBackoff
	}
	if o.ResponseHeaderTimeout == 0 {
		o.ResponseHeaderTimeout = DefaultS3ResponseHeaderTimeout
	}
	if o.PartSize == 0 {
		o.PartSize = DefaultS3PartSize
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultS3Concurrency
	}
}

func (o S3Options) validate() error {
	switch {
	case o.Bucket == "":
		return errors.New("no bucket name")
	case strings.ContainsAny(o.Bucket, "/?#"):
		return fmt.Errorf("invalid bucket name %q", o.Bucket)
	case o.MaxAttempts < 1:
		return fmt.Errorf("max attempts %d < 1", o.MaxAttempts)
	case o.RetryBaseDelay < 0 || o.RetryMaxBackoff < 0 || o.ResponseHeaderTimeout < 0:
		return errors.New("negative retry delay or timeout")
	case o.PartSize < MinS3PartSize:
		return fmt.Errorf("part size %d below the S3 minimum %d", o.PartSize, MinS3PartSize)
	case o.Concurrency < 1:
		return fmt.Errorf("concurrency %d < 1", o.Concurrency)
	}
	if o.Endpoint != "" {
		u, err := url.Parse(o.Endpoint)
		if err != nil {
			return fmt.Errorf("endpoint: %w", err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("endpoint %q: want http(s)://host[:port]", redactURL(o.Endpoint))
		}
	}
	return nil
}

// S3 is a Bucket in an S3 (or S3-compatible) bucket.
//
// PutIfAbsent is a PutObject with "If-None-Match: *" (AWS S3 since 2024,
// versitygw, MinIO): 412 Precondition Failed means the key exists. A retried
// PutIfAbsent whose earlier attempt reached the server but lost its response
// is answered 412 by the retry; S3 detects that case (more than one attempt)
// and compares the stored object with data: equal bytes mean the earlier
// attempt wrote it and PutIfAbsent returns nil. Callers therefore make data
// unique to the writer (a Delta commit carries a unique commitInfo), and, when
// they retry a PutIfAbsent themselves after an error of unknown outcome, do
// the same comparison on ErrExists (see PutIfAbsentVerified).
type S3 struct {
	opts     S3Options
	client   *s3.Client
	uploader *manager.Uploader
	tr       *http.Transport
	reach    *reach
}

var _ Bucket = (*S3)(nil)

// NewS3 returns a bucket for opts.Bucket. It loads the SDK's default
// configuration (credentials, region, endpoint from the environment and
// shared files) and does no I/O against the bucket.
func NewS3(ctx context.Context, opts S3Options) (*S3, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("s3 bucket %q: %w", opts.Bucket, err)
	}
	rc := &reach{endpoint: opts.Endpoint}
	if rc.endpoint == "" {
		rc.endpoint = "s3://" + opts.Bucket
	}
	loadOpts := []func(*config.LoadOptions) error{
		// A buildable client, so that the SDK can add a custom CA bundle
		// (AWS_CA_BUNDLE); its transport is taken over below.
		config.WithHTTPClient(awshttp.NewBuildableClient()),
		config.WithRetryer(func() aws.Retryer { return newRetryer(opts, rc) }),
		// Send checksums only where an operation requires them: versitygw
		// v1.8.0 refuses a CompleteMultipartUpload whose parts carry CRC32
		// checksums the CreateMultipartUpload did not announce, and over
		// plain HTTP SigV4 already signs each payload's SHA-256.
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if opts.Credentials != nil {
		loadOpts = append(loadOpts, config.WithCredentialsProvider(opts.Credentials))
	}
	if opts.Region != "" {
		loadOpts = append(loadOpts, config.WithRegion(opts.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("s3 bucket %q: load aws config: %w", opts.Bucket, err)
	}
	// Own the transport, to tune it and to close its connections in Close.
	var tr *http.Transport
	if bc, ok := cfg.HTTPClient.(*awshttp.BuildableClient); ok {
		tr = bc.GetTransport()
	} else {
		tr = http.DefaultTransport.(*http.Transport).Clone()
	}
	tr.ResponseHeaderTimeout = opts.ResponseHeaderTimeout
	tr.MaxIdleConnsPerHost = max(16, 4*opts.Concurrency)
	cfg.HTTPClient = &http.Client{
		Transport: reachTransport{next: tr, r: rc},
		// S3 redirects (301 PermanentRedirect to another region) are errors
		// to report, not to follow unsigned.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	if cfg.Region == "" {
		cfg.Region = defaultS3Region
	}
	opts.Region = cfg.Region
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = opts.PathStyle
		o.APIOptions = append(o.APIOptions, rc.middleware)
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
		}
	})
	uploader := manager.NewUploader(client, func(u *manager.Uploader) {
		u.PartSize = opts.PartSize
		u.Concurrency = opts.Concurrency
		u.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	})
	b := &S3{opts: opts, client: client, uploader: uploader, tr: tr, reach: rc}
	uploader.ClientOptions = append(uploader.ClientOptions, func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, b.recoverCompletedUpload)
	})
	return b, nil
}

// recoverCompletedUpload adds a middleware to CompleteMultipartUpload calls
// that resolves a lost response: when a retried completion is answered
// NoSuchUpload because an earlier attempt completed the upload, the object
// is ours if its ETag is the multipart ETag of exactly our parts (the MD5 of
// the parts' MD5s, "-<parts>"; S3 and versitygw compute it so for
// unencrypted objects). Then the call succeeds; otherwise the error stands.
func (s *S3) recoverCompletedUpload(st *middleware.Stack) error {
	// (versitygw v1.8.0 answers any repeated completion with success once
	// the object exists; AWS S3 answers NoSuchUpload some time after a
	// completion.)
	return st.Initialize.Add(middleware.InitializeMiddlewareFunc("shelflakeRecoverCompletedUpload",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleInitialize(ctx, in)
			cin, ok := in.Parameters.(*s3.CompleteMultipartUploadInput)
			if err == nil || !ok || cin.MultipartUpload == nil {
				return out, md, err
			}
			if code, _ := s3ErrorCode(err); code != "NoSuchUpload" {
				return out, md, err
			}
			want, ok := multipartETag(cin.MultipartUpload.Parts)
			if !ok {
				return out, md, err
			}
			head, herr := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: cin.Bucket, Key: cin.Key})
			if herr != nil || strings.Trim(aws.ToString(head.ETag), `"`) != want {
				return out, md, err
			}
			out.Result = &s3.CompleteMultipartUploadOutput{Bucket: cin.Bucket, Key: cin.Key, ETag: head.ETag}
			return out, md, nil
		}), middleware.After)
}

// multipartETag computes the ETag S3 gives a multipart object from its
// parts' ETags (hex MD5s): hex(MD5(concatenated part MD5s)) + "-" + count.
func multipartETag(parts []types.CompletedPart) (string, bool) {
	h := md5.New()
	for _, p := range parts {
		sum, err := hex.DecodeString(strings.Trim(aws.ToString(p.ETag), `"`))
		if err != nil || len(sum) != md5.Size {
			return "", false
		}
		h.Write(sum)
	}
	return fmt.Sprintf("%x-%d", h.Sum(nil), len(parts)), true
}

// newRetryer is the SDK's standard retryer with our attempts, backoff and
// extra retryable errors, and without the client-wide retry quota (a burst of
// faults must not turn later requests' retries off; attempts stay bounded).
func newRetryer(opts S3Options, rc *reach) aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = opts.MaxAttempts
		o.MaxBackoff = opts.RetryMaxBackoff
		o.RateLimiter = ratelimit.None
		o.Backoff = jitterBackoff{base: opts.RetryBaseDelay, max: opts.RetryMaxBackoff}
		// The caller's cancellation or deadline ends the retries (a
		// deadline is also a net.Error timeout, which the SDK retries),
		// and so does an endpoint that was never reached (UnreachableError).
		o.Retryables = append([]retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || rc.unreachable(err) {
				return aws.FalseTernary
			}
			return aws.UnknownTernary
		})}, o.Retryables...)
		o.Retryables = append(o.Retryables,
			retry.RetryableErrorCode{Codes: map[string]struct{}{
				"ConditionalRequestConflict": {}, // 409: a concurrent conditional write is in flight
				"InternalError":              {},
				"ServiceUnavailable":         {},
			}},
			retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
				// A connection closed before a response (server crash, proxy
				// reset without RST) surfaces as EOF.
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
					return aws.TrueTernary
				}
				// A connection reset or closed under a request being written.
				if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED) {
					return aws.TrueTernary
				}
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					return aws.TrueTernary
				}
				return aws.UnknownTernary
			}),
		)
	})
}

// jitterBackoff is exponential backoff with full jitter: a uniformly random
// delay in [0, min(max, base·2^(attempt-1))), from 4·base for throttling.
type jitterBackoff struct{ base, max time.Duration }

func (j jitterBackoff) BackoffDelay(attempt int, err error) (time.Duration, error) {
	d := j.base
	if isThrottle(err) {
		d *= 4
	}
	for i := 1; i < attempt && d < j.max; i++ {
		d *= 2
	}
	d = min(d, j.max)
	if d <= 0 {
		return 0, nil
	}
	return rand.N(d), nil
}

func isThrottle(err error) bool {
	code, status := s3ErrorCode(err)
	return status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests ||
		code == "SlowDown" || code == "Throttling" || code == "ThrottlingException"
}

// Client returns the underlying SDK client (for tests and tools that need an
// S3 operation outside the Bucket contract).
func (s *S3) Client() *s3.Client { return s.client }

// Options returns the options in effect, defaults filled in.
func (s *S3) Options() S3Options { return s.opts }

// String returns the bucket's URI without credentials.
func (s *S3) String() string {
	return s3URI(s.opts.Bucket, "", s.opts.Endpoint, s.opts.PathStyle)
}

// s3URI formats an s3:// URI in the form Open parses, minus credentials.
func s3URI(bucket, prefix, endpoint string, pathStyle bool) string {
	u := "s3://" + bucket
	if prefix != "" {
		u += "/" + prefix
	}
	q := url.Values{}
	if endpoint != "" {
		q.Set("endpoint", redactURL(endpoint))
	}
	if pathStyle {
		q.Set("path_style", "true")
	}
	if len(q) > 0 {
		u += "?" + formatQuery(q)
	}
	return u
}

// formatQuery encodes q sorted by key like url.Values.Encode, but leaves
// ':' and '/' readable ("endpoint=http://127.0.0.1:7070"); url.ParseQuery
// reads it back the same.
func formatQuery(q url.Values) string {
	return strings.NewReplacer("%3A", ":", "%2F", "/").Replace(q.Encode())
}

// redactURL drops user information (user:password@) from a URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<unparsable url>"
	}
	u.User = nil
	return u.String()
}

// Close releases idle connections.
func (s *S3) Close() error {
	s.tr.CloseIdleConnections()
	return nil
}

// Put uploads r to key: a single PutObject for objects up to PartSize, a
// multipart upload (aborted on error) beyond. S3 makes the object visible
// only once complete.
func (s *S3) Put(ctx context.Context, key string, r io.Reader) error {
	if err := checkKey(ctx, key); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	_, err := s.uploader.Upload(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.opts.Bucket),
		Key:    aws.String(key),
		Body:   r,
	})
	if err != nil {
		return fmt.Errorf("put %s in %s: %w", key, s, err)
	}
	return nil
}

// PutIfAbsent writes data to key with "If-None-Match: *". See the S3 type
// for how a retried attempt that finds its own earlier write is resolved.
func (s *S3) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	if err := checkKey(ctx, key); err != nil {
		return fmt.Errorf("put-if-absent %s: %w", key, err)
	}
	var attempts atomic.Int32
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.opts.Bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
		IfNoneMatch:   aws.String("*"),
	}, countAttempts(&attempts))
	if err == nil {
		return nil
	}
	if code, status := s3ErrorCode(err); code == "PreconditionFailed" || status == http.StatusPreconditionFailed {
		if attempts.Load() > 1 {
			// An earlier attempt may have written the object and lost its
			// response: it is ours if it holds our bytes.
			if same, verr := holds(ctx, s, key, data); verr == nil && same {
				return nil
			}
		}
		return fmt.Errorf("put-if-absent %s in %s: %w", key, s, ErrExists)
	}
	return fmt.Errorf("put-if-absent %s in %s: %w", key, s, err)
}

// countAttempts counts the HTTP attempts of one operation (the retry
// middleware runs the rest of the finalize step once per attempt).
func countAttempts(n *atomic.Int32) func(*s3.Options) {
	return func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Finalize.Insert(middleware.FinalizeMiddlewareFunc("shelflakeCountAttempts",
				func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
					n.Add(1)
					return next.HandleFinalize(ctx, in)
				}), "Retry", middleware.After)
		})
	}
}

// Get opens key for reading.
func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	return s.GetRange(ctx, key, 0, -1)
}

// GetRange reads length bytes from offset (to the end if length < 0) with a
// ranged GetObject.
func (s *S3) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := checkKey(ctx, key); err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	if offset < 0 {
		return nil, fmt.Errorf("get %s in %s: negative offset %d", key, s, offset)
	}
	if length == 0 {
		a, err := s.Stat(ctx, key)
		if err != nil {
			return nil, err
		}
		if offset > a.Size {
			return nil, fmt.Errorf("get %s in %s: offset %d beyond size %d", key, s, offset, a.Size)
		}
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	in := &s3.GetObjectInput{Bucket: aws.String(s.opts.Bucket), Key: aws.String(key)}
	switch {
	case length > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", offset, offset+length-1))
	case offset > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
	}
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		if code, status := s3ErrorCode(err); code == "InvalidRange" || status == http.StatusRequestedRangeNotSatisfiable {
			// S3 refuses a range starting at the end; the contract reads
			// it as empty.
			a, serr := s.Stat(ctx, key)
			if serr != nil {
				return nil, serr
			}
			if offset == a.Size {
				return io.NopCloser(bytes.NewReader(nil)), nil
			}
			return nil, fmt.Errorf("get %s in %s: offset %d beyond size %d", key, s, offset, a.Size)
		}
		return nil, s.readErr("get", key, err)
	}
	return ctxReadCloser{ctxReader: ctxReader{ctx: ctx, r: out.Body}, Closer: out.Body}, nil
}

// Stat returns key's attributes from a HeadObject.
func (s *S3) Stat(ctx context.Context, key string) (Attributes, error) {
	if err := checkKey(ctx, key); err != nil {
		return Attributes{}, fmt.Errorf("stat %s: %w", key, err)
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.opts.Bucket), Key: aws.String(key)})
	if err != nil {
		return Attributes{}, s.readErr("stat", key, err)
	}
	return Attributes{
		Key:          key,
		Size:         aws.ToInt64(out.ContentLength),
		LastModified: aws.ToTime(out.LastModified),
		ETag:         strings.Trim(aws.ToString(out.ETag), `"`),
	}, nil
}

// List pages through ListObjectsV2 (no delimiter, so recursive), which S3
// returns in lexical (UTF-8 binary) key order.
func (s *S3) List(ctx context.Context, prefix string, fn func(Attributes) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("list %s in %s: %w", prefix, s, err)
	}
	if err := validatePrefix(prefix); err != nil {
		return fmt.Errorf("list in %s: %w", s, err)
	}
	in := &s3.ListObjectsV2Input{Bucket: aws.String(s.opts.Bucket)}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	p := s3.NewListObjectsV2Paginator(s.client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list %s in %s: %w", prefix, s, err)
		}
		for _, o := range page.Contents {
			if err := fn(Attributes{
				Key:          aws.ToString(o.Key),
				Size:         aws.ToInt64(o.Size),
				LastModified: aws.ToTime(o.LastModified),
				ETag:         strings.Trim(aws.ToString(o.ETag), `"`),
			}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete removes key; S3 answers success for a missing key.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := checkKey(ctx, key); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.opts.Bucket), Key: aws.String(key)})
	if err != nil && !isS3NotFound(err) {
		return fmt.Errorf("delete %s in %s: %w", key, s, err)
	}
	return nil
}

// AbortIncompleteUploads aborts the bucket's multipart uploads started more
// than olderThan ago and returns how many it aborted. Such uploads are left
// when a CreateMultipartUpload was applied but its response lost (the client
// never learnt the upload id), or a process died mid-upload; their parts cost
// storage until aborted. Vacuum calls it; a bucket lifecycle rule
// (AbortIncompleteMultipartUpload) does the same on AWS.
func (s *S3) AbortIncompleteUploads(ctx context.Context, olderThan time.Duration) (int, error) {
	cutoff := time.Now().Add(-olderThan)
	p := s3.NewListMultipartUploadsPaginator(s.client, &s3.ListMultipartUploadsInput{Bucket: aws.String(s.opts.Bucket)})
	n := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return n, fmt.Errorf("list multipart uploads in %s: %w", s, err)
		}
		for _, u := range page.Uploads {
			if u.Initiated != nil && u.Initiated.After(cutoff) {
				continue
			}
			_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
				Bucket: aws.String(s.opts.Bucket), Key: u.Key, UploadId: u.UploadId,
			})
			if err != nil {
				if code, _ := s3ErrorCode(err); code == "NoSuchUpload" {
					continue // completed or aborted meanwhile
				}
				return n, fmt.Errorf("abort multipart upload of %s in %s: %w", aws.ToString(u.Key), s, err)
			}
			n++
		}
	}
	return n, nil
}

func (s *S3) readErr(op, key string, err error) error {
	if isS3NotFound(err) {
		return fmt.Errorf("%s %s in %s: %w", op, key, s, ErrNotExist)
	}
	return fmt.Errorf("%s %s in %s: %w", op, key, s, err)
}

// s3ErrorCode returns the API error code and HTTP status of an SDK error
// ("" and 0 where unknown).
func s3ErrorCode(err error) (code string, status int) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	var se interface{ HTTPStatusCode() int }
	if errors.As(err, &se) {
		status = se.HTTPStatusCode()
	}
	return code, status
}

// isS3NotFound reports a missing key: NoSuchKey, or a 404 (HeadObject has
// no body to carry a code) that is not about a missing bucket.
func isS3NotFound(err error) bool {
	code, status := s3ErrorCode(err)
	if code == "NoSuchBucket" {
		return false
	}
	return code == "NoSuchKey" || code == "NotFound" || status == http.StatusNotFound
}

func checkKey(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return ValidateKey(key)
}

// holds reports whether key's object is exactly data.
func holds(ctx context.Context, b Bucket, key string, data []byte) (bool, error) {
	a, err := b.Stat(ctx, key)
	if err != nil {
		return false, err
	}
	if a.Size != int64(len(data)) {
		return false, nil
	}
	rc, err := b.Get(ctx, key)
	if err != nil {
		return false, err
	}
	got, err := io.ReadAll(io.LimitReader(rc, int64(len(data))+1))
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, err
	}
	return bytes.Equal(got, data), nil
}

// PutIfAbsentVerified is PutIfAbsent for a caller that retries after errors
// of unknown outcome (a timeout, a connection lost after the request was
// sent): on ErrExists it reads the object and returns nil when it holds
// exactly data, i.e. an earlier attempt of this caller wrote it. It is exact
// when data is unique to the writer. Otherwise it returns PutIfAbsent's error.
func PutIfAbsentVerified(ctx context.Context, b Bucket, key string, data []byte) error {
	err := b.PutIfAbsent(ctx, key, data)
	if !errors.Is(err, ErrExists) {
		return err
	}
	same, verr := holds(ctx, b, key, data)
	if verr != nil {
		return errors.Join(err, fmt.Errorf("verify %s: %w", key, verr))
	}
	if same {
		return nil
	}
	return err
}
