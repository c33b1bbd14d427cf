package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shelflake/shelflake/lake/objstore/objtest"
)

// TestUnreachableS3FailsAtOnce: a lake on an S3 endpoint that refuses
// connections fails each short-lived command within seconds, with one line
// that starts with the cause and no warnings before it.
func TestUnreachableS3FailsAtOnce(t *testing.T) {
	endpoint := "http://" + objtest.ClosedAddr(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	uri := "s3://lake/prefix?endpoint=" + endpoint + "&path_style=true"
	want := "cannot reach S3 endpoint " + endpoint + ": connection refused"
	for _, args := range [][]string{
		{"sql", "--lake", uri, "-c", "select count(*) from pos_lines"},
		{"forecast", "--lake", uri, "--as-of", "2026-05-05"},
		{"compact", "--lake", uri},
		{"vacuum", "--lake", uri},
	} {
		t.Run(args[0], func(t *testing.T) {
			var out, errb bytes.Buffer
			root := newRootCmd(&out, &errb)
			root.SetArgs(args)
			start := time.Now()
			err := root.ExecuteContext(context.Background())
			took := time.Since(start)
			if err == nil {
				t.Fatal("succeeded against an endpoint that refuses connections")
			}
			if got := causeFirst(err).Error(); got != want {
				t.Errorf("error %q, want %q", got, want)
			}
			if strings.Contains(errb.String(), "WARN") {
				t.Errorf("warnings before the error:\n%s", errb.String())
			}
			if took > 10*time.Second { // ~0.1 s here; retries took 9-138 s
				t.Errorf("took %v: the refused connection was retried", took)
			}
		})
	}
}

// TestUnreachableBrokersFailAtOnce: short-lived commands that produce to or
// list Kafka fail within seconds naming the brokers and the cause.
func TestUnreachableBrokersFailAtOnce(t *testing.T) {
	addr := objtest.ClosedAddr(t)
	want := "cannot reach Kafka brokers " + addr + ": connection refused"
	dir := t.TempDir()
	for _, args := range [][]string{
		{"gen", "--brokers", addr, "--days", "3", "--truth", dir + "/truth"},
	} {
		t.Run(args[0], func(t *testing.T) {
			var out, errb bytes.Buffer
			root := newRootCmd(&out, &errb)
			root.SetArgs(args)
			start := time.Now()
			err := root.ExecuteContext(context.Background())
			if err == nil {
				t.Fatal("succeeded against brokers that refuse connections")
			}
			if got := causeFirst(err).Error(); got != want {
				t.Errorf("error %q, want %q", got, want)
			}
			if took := time.Since(start); took > 10*time.Second { // ~0.1 s here; was 120 s of silence
				t.Errorf("took %v", took)
			}
		})
	}
}
