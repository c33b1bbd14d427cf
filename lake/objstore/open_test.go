package objstore_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shelflake/shelflake/lake/objstore"
	"github.com/shelflake/shelflake/lake/objstore/objtest"
)

func TestOpenLocal(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, tc := range []struct {
		name, uri, root string
	}{
		{"a file URI opens its absolute path", "file://" + filepath.Join(dir, "a"), filepath.Join(dir, "a")},
		{"a file URI with localhost opens its path", "file://localhost" + filepath.Join(dir, "b"), filepath.Join(dir, "b")},
		{"an absolute path opens itself", filepath.Join(dir, "c"), filepath.Join(dir, "c")},
		{"a relative path opens under the working directory", "rel/lake", filepath.Join(dir, "rel", "lake")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := objstore.Open(t.Context(), tc.uri)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			l, ok := b.(*objstore.Local)
			if !ok {
				t.Fatalf("Open(%q) = %T, want *objstore.Local", tc.uri, b)
			}
			if l.Root() != tc.root {
				t.Fatalf("root %q, want %q", l.Root(), tc.root)
			}
			if want := "file://" + tc.root; b.String() != want {
				t.Fatalf("String() = %q, want %q", b.String(), want)
			}
			if err := b.Put(t.Context(), "k/v", strings.NewReader("x")); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(tc.root, "k", "v")); err != nil {
				t.Fatalf("object file not under the root: %v", err)
			}
		})
	}
}

func TestOpenRefusesBadURIs(t *testing.T) {
	for _, tc := range []struct {
		name, uri string
		mention   string // the error must mention this
	}{
		{"an empty URI", "", "empty"},
		{"an unknown scheme", "gs://bucket/x", "unsupported scheme"},
		{"a file URI with a host", "file://server/share", "host"},
		{"an s3 URI without a bucket", "s3:///prefix", "no bucket"},
		{"an unknown s3 parameter", "s3://b?endpoint=http://127.0.0.1:1&pathstyle=true", "unknown parameter"},
		{"a malformed path_style", "s3://b?path_style=yes", "path_style"},
		{"an endpoint without a scheme", "s3://b?endpoint=127.0.0.1:7070", "endpoint"},
		{"credentials in the URI", "s3://AKIDSECRET:hunter2@bucket/x", "credentials"},
		{"credentials in the endpoint", "s3://b?endpoint=ftp://user:hunter2@127.0.0.1:1", "endpoint"},
		{"an invalid prefix", "s3://b/a//b?endpoint=http://127.0.0.1:1", "prefix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := objstore.Open(t.Context(), tc.uri)
			if err == nil {
				_ = b.Close()
				t.Fatalf("Open(%q) succeeded", tc.uri)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("Open(%q) error %q does not mention %q", tc.uri, err, tc.mention)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("Open error leaks a secret: %q", err)
			}
		})
	}
}

func TestRedactURI(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"user information is dropped", "s3://AK:SK@bucket/p", "s3://bucket/p"},
		{"endpoint user information is dropped", "s3://b?endpoint=http://u:pw@h:1", "s3://b?endpoint=http://h:1"},
		{"a clean URI is unchanged", "s3://b/p?region=eu-west-1", "s3://b/p?region=eu-west-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := objstore.RedactURI(tc.in); got != tc.want {
				t.Fatalf("RedactURI(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestOpenS3WithPrefix opens a prefixed S3 URI, runs the acceptance test on
// it, and checks that the objects live under the prefix in the bucket.
func TestOpenS3WithPrefix(t *testing.T) {
	srv := objtest.StartVersity(t)
	uri := strings.Replace(srv.URI, "?", "/lake/root?", 1)
	b, err := objstore.Open(t.Context(), uri, objstore.WithS3Options(func(o *objstore.S3Options) {
		opts := srv.Options(o.Bucket)
		o.Credentials = opts.Credentials
		o.PartSize = opts.PartSize
		o.RetryBaseDelay = opts.RetryBaseDelay
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, ok := b.(*objstore.Prefixed); !ok {
		t.Fatalf("Open(%q) = %T, want *objstore.Prefixed", uri, b)
	}
	if want := "s3://" + srv.Bucket + "/lake/root?endpoint="; !strings.HasPrefix(b.String(), want) {
		t.Fatalf("String() = %q, want it to start with %q", b.String(), want)
	}
	objtest.AcceptanceTest(t, b)

	if err := b.Put(t.Context(), "table/file", strings.NewReader("under the prefix")); err != nil {
		t.Fatal(err)
	}
	direct := srv.NewBucket(t, srv.Bucket)
	if got := readAll(t, direct, "lake/root/table/file"); string(got) != "under the prefix" {
		t.Fatalf("object in the bucket = %q", got)
	}
	var keys []string
	if err := b.List(t.Context(), "table/", func(a objstore.Attributes) error {
		keys = append(keys, a.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0] != "table/file" {
		t.Fatalf("prefixed list = %q, want [table/file]", keys)
	}
}

// TestOpenS3FromEnvironment points the SDK at versitygw through the AWS
// environment only (AWS_ENDPOINT_URL_S3, credentials, region), as a deployed
// shelflake would be.
func TestOpenS3FromEnvironment(t *testing.T) {
	srv := objtest.StartVersity(t)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	b, err := objstore.Open(t.Context(), "s3://"+srv.Bucket+"?path_style=true")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if strings.Contains(b.String(), srv.SecretKey) || strings.Contains(b.String(), srv.AccessKey) {
		t.Fatalf("String() leaks credentials: %q", b.String())
	}
	data := []byte("written with environment configuration")
	if err := b.PutIfAbsent(t.Context(), "env/obj", data); err != nil {
		t.Fatal(err)
	}
	direct := srv.NewBucket(t, srv.Bucket)
	if got := readAll(t, direct, "env/obj"); !bytes.Equal(got, data) {
		t.Fatalf("content %q", got)
	}
}
