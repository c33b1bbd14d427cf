package objstore_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shelflake/shelflake/lake/objstore/objtest"
)

// awsCLI returns a command running the aws CLI against srv with only the
// harness's environment for AWS (no profile, no shared files).
func awsCLI(t *testing.T, srv *objtest.S3Server, args ...string) *exec.Cmd {
	t.Helper()
	bin, err := exec.LookPath("aws")
	if err != nil {
		t.Fatalf("aws CLI not found (make test installs awscli): %v", err)
	}
	cmd := exec.CommandContext(t.Context(), bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	none := filepath.Join(t.TempDir(), "none")
	cmd.Env = append(cmd.Env, srv.Env()...)
	cmd.Env = append(cmd.Env, "AWS_CONFIG_FILE="+none, "AWS_SHARED_CREDENTIALS_FILE="+none)
	return cmd
}

// TestAWSCLIInteroperates checks with an independent client, the aws CLI,
// that objects our S3 bucket writes (single and multipart) read back
// byte-identical, are listed, and that what the CLI writes we read.
func TestAWSCLIInteroperates(t *testing.T) {
	srv := objtest.StartVersity(t)
	b := srv.NewBucket(t, srv.Bucket)
	small := []byte("written by shelflake\n")
	large := randBytes(42, 12<<20+99) // three 5 MiB parts
	if err := b.Put(t.Context(), "cli/small.txt", bytes.NewReader(small)); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(t.Context(), "cli/deeper/large.bin", bytes.NewReader(large)); err != nil {
		t.Fatal(err)
	}
	if err := b.PutIfAbsent(t.Context(), "cli/commit.json", []byte(`{"commitInfo":{}}`)); err != nil {
		t.Fatal(err)
	}

	t.Run("aws s3 sync lists and reads every object byte-identical", func(t *testing.T) {
		dst := t.TempDir()
		if out, err := awsCLI(t, srv, "s3", "sync", "--only-show-errors", "s3://"+srv.Bucket+"/cli/", dst).CombinedOutput(); err != nil {
			t.Fatalf("aws s3 sync: %v\n%s", err, out)
		}
		for _, tc := range []struct {
			key  string
			want []byte
		}{
			{"small.txt", small},
			{"deeper/large.bin", large},
			{"commit.json", []byte(`{"commitInfo":{}}`)},
		} {
			got, err := os.ReadFile(filepath.Join(dst, filepath.FromSlash(tc.key)))
			if err != nil {
				t.Fatalf("aws s3 sync did not fetch cli/%s: %v", tc.key, err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("aws s3 sync read %d bytes of cli/%s, want the %d written", len(got), tc.key, len(tc.want))
			}
		}
	})

	t.Run("we read what aws s3 cp wrote", func(t *testing.T) {
		src := filepath.Join(t.TempDir(), "upload.txt")
		data := []byte("written by the aws CLI\n")
		if err := os.WriteFile(src, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := awsCLI(t, srv, "s3", "cp", "--only-show-errors", src, "s3://"+srv.Bucket+"/cli/from-aws.txt").CombinedOutput(); err != nil {
			t.Fatalf("aws s3 cp upload: %v\n%s", err, out)
		}
		if got := readAll(t, b, "cli/from-aws.txt"); !bytes.Equal(got, data) {
			t.Fatalf("read %q, want %q", got, data)
		}
	})
}
