package objtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/shelflake/shelflake/lake/objstore"
)

// Fixed test credentials of the versitygw root account.
const (
	TestAccessKey = "shelflake-test-access"
	TestSecretKey = "shelflake-test-secret-key-not-a-secret"
	TestRegion    = "us-east-1"
	// TestBucket is the bucket StartVersity creates.
	TestBucket = "shelflake-test"
)

// EnvVersitygw names the environment variable that points at a versitygw
// binary; without it the harness uses <module root>/bin/versitygw, and builds
// that from the module proxy (tools/go.mod pins the version) when missing.
const EnvVersitygw = "SHELFLAKE_VERSITYGW"

// S3Server is a running versitygw S3 gateway with the posix backend in a
// test's temp dir, stopped when the test ends.
type S3Server struct {
	// Endpoint is the gateway's base URL, http://127.0.0.1:<port>.
	Endpoint  string
	Region    string
	AccessKey string
	SecretKey string
	// Bucket is a bucket created at start-up (TestBucket).
	Bucket string
	// URI opens Bucket with objstore.Open (credentials come from Env or
	// Options, not from the URI).
	URI string
	// Dir is the posix backend's root; Dir/<bucket>/<key> is an object.
	Dir string
}

// StartVersity starts versitygw on a free loopback port and creates
// TestBucket. It fails the test (never skips) when versitygw cannot be found,
// built or started.
func StartVersity(t testing.TB) *S3Server {
	t.Helper()
	bin, err := versitygwBinary()
	if err != nil {
		t.Fatalf("versitygw: %v", err)
	}
	dir := t.TempDir()
	var lastErr error
	for range 3 { // a free port can be taken between probe and bind
		s, err := startVersity(t, bin, dir)
		if err == nil {
			s.CreateBucket(t, TestBucket)
			return s
		}
		lastErr = err
	}
	t.Fatalf("start versitygw: %v", lastErr)
	return nil
}

func startVersity(t testing.TB, bin, dir string) (*S3Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var out lockedBuffer
	cmd := exec.Command(bin,
		"--port", addr,
		"--access", TestAccessKey,
		"--secret", TestSecretKey,
		"--region", TestRegion,
		"--quiet",
		"posix", dir)
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	// Wait until the gateway answers HTTP (any status: unsigned requests
	// get 403).
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := client.Get("http://" + addr + "/")
		if err == nil {
			_ = resp.Body.Close()
			break
		}
		select {
		case werr := <-exited:
			exited <- werr
			stop()
			return nil, fmt.Errorf("versitygw exited (%v): %s", werr, out.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("versitygw did not answer on %s: %v\n%s", addr, err, out.String())
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("versitygw output:\n%s", out.String())
		}
	})
	s := &S3Server{
		Endpoint:  "http://" + addr,
		Region:    TestRegion,
		AccessKey: TestAccessKey,
		SecretKey: TestSecretKey,
		Bucket:    TestBucket,
		Dir:       dir,
	}
	s.URI = s.BucketURI(TestBucket)
	return s, nil
}

// BucketURI returns the objstore.Open URI of bucket on this server.
func (s *S3Server) BucketURI(bucket string) string {
	return "s3://" + bucket + "?endpoint=" + s.Endpoint + "&path_style=true&region=" + s.Region
}

// Env returns environment variables that point AWS clients (the SDK, the aws
// CLI, a shelflake subprocess) at this server with its credentials.
func (s *S3Server) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey,
		"AWS_REGION=" + s.Region,
		"AWS_DEFAULT_REGION=" + s.Region,
		"AWS_ENDPOINT_URL_S3=" + s.Endpoint,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// Options returns S3Options for bucket on this server with its static
// credentials and fast test retries (objects as large as the acceptance
// test's are uploaded in minimum-size parts).
func (s *S3Server) Options(bucket string) objstore.S3Options {
	return objstore.S3Options{
		Bucket:          bucket,
		Endpoint:        s.Endpoint,
		Region:          s.Region,
		PathStyle:       true,
		Credentials:     credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		RetryBaseDelay:  5 * time.Millisecond,
		RetryMaxBackoff: 200 * time.Millisecond,
		PartSize:        objstore.MinS3PartSize,
	}
}

// NewBucket returns an objstore.S3 for bucket, closed when the test ends.
// modify, if given, adjusts the options first (e.g. to use a proxy endpoint).
func (s *S3Server) NewBucket(t testing.TB, bucket string, modify ...func(*objstore.S3Options)) *objstore.S3 {
	t.Helper()
	opts := s.Options(bucket)
	for _, m := range modify {
		m(&opts)
	}
	b, err := objstore.NewS3(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// CreateBucket creates a bucket on the server.
func (s *S3Server) CreateBucket(t testing.TB, bucket string) {
	t.Helper()
	b, err := objstore.NewS3(context.Background(), s.Options(bucket))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := b.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket %s on %s: %v", bucket, s.Endpoint, err)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	return port, l.Close()
}

// lockedBuffer collects a subprocess's output safely.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var versitygwOnce = sync.OnceValues(findOrBuildVersitygw)

// versitygwBinary finds versitygw: $SHELFLAKE_VERSITYGW, else
// <module root>/bin/versitygw, else a build from the tools module cached in
// the user cache directory under the hash of tools/go.sum.
func versitygwBinary() (string, error) { return versitygwOnce() }

func findOrBuildVersitygw() (string, error) {
	if p := os.Getenv(EnvVersitygw); p != "" {
		if isExecutable(p) {
			return p, nil
		}
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	if p := filepath.Join(root, "bin", "versitygw"); isExecutable(p) {
		return p, nil
	}
	tools := filepath.Join(root, "tools")
	sum, err := os.ReadFile(filepath.Join(tools, "go.sum"))
	if err != nil {
		return "", fmt.Errorf("no versitygw binary ($%s, %s/bin) and no tools module to build it: %w", EnvVersitygw, root, err)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dst := filepath.Join(cache, "shelflake", fmt.Sprintf("versitygw-%x", sha256.Sum256(sum))[:len("versitygw-")+16])
	if isExecutable(dst) {
		return dst, nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", err
	}
	// One build at a time across test processes (go test runs packages in
	// parallel); the others wait and find the binary.
	unlock, err := lockFile(dst + ".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if isExecutable(dst) {
		return dst, nil
	}
	// Build to a temporary name and rename, so concurrent test binaries
	// never run a half-written file.
	tmp := fmt.Sprintf("%s.tmp-%d", dst, os.Getpid())
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", tmp, "github.com/versity/versitygw/cmd/versitygw")
	cmd.Dir = tools
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("build versitygw in %s: %v\n%s", tools, err, out)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return "", err
	}
	return dst, nil
}

// moduleRoot walks up from the working directory (a test runs in its
// package's directory) to the shelflake module's go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(data), "module github.com/shelflake/shelflake\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("shelflake module root not found above the working directory")
		}
		dir = parent
	}
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}
