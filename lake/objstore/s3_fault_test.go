package objstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/shelflake/shelflake/lake/objstore"
	"github.com/shelflake/shelflake/lake/objstore/objtest"
)

// proxied returns an S3 bucket on srv reached through a fault proxy.
func proxied(t *testing.T, srv *objtest.S3Server, cfg objtest.FaultConfig, modify ...func(*objstore.S3Options)) (*objstore.S3, *objtest.FaultProxy) {
	t.Helper()
	proxy := objtest.NewFaultProxy(t, srv.Endpoint, cfg)
	b := srv.NewBucket(t, srv.Bucket, append([]func(*objstore.S3Options){func(o *objstore.S3Options) {
		o.Endpoint = proxy.URL
	}}, modify...)...)
	return b, proxy
}

func readAll(t *testing.T, b objstore.Bucket, key string) []byte {
	t.Helper()
	rc, err := b.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return data
}

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestS3RetriesTransientFaults scripts the faults of the first requests and
// checks that each operation still succeeds with the right outcome.
func TestS3RetriesTransientFaults(t *testing.T) {
	srv := objtest.StartVersity(t)
	direct := srv.NewBucket(t, srv.Bucket)
	for _, tc := range []struct {
		name   string
		script []objtest.Fault
		// setup runs without faults; op runs through them.
		setup func(t *testing.T, key string)
		op    func(t *testing.T, b objstore.Bucket, key string) error
		check func(t *testing.T, key string, opErr error)
	}{
		{
			name:   "a put is retried after connection resets, a 500 and a 503",
			script: []objtest.Fault{objtest.ResetBefore, objtest.ResetBefore, objtest.InternalErrorBefore, objtest.SlowDownBefore},
			op: func(t *testing.T, b objstore.Bucket, key string) error {
				return b.Put(t.Context(), key, strings.NewReader("retried put"))
			},
			check: func(t *testing.T, key string, err error) {
				if err != nil {
					t.Fatal(err)
				}
				if got := readAll(t, direct, key); string(got) != "retried put" {
					t.Fatalf("content %q", got)
				}
			},
		},
		{
			name:   "a get is retried after a lost response and a reset",
			script: []objtest.Fault{objtest.ResetAfter, objtest.InternalErrorAfter, objtest.SlowDownAfter},
			setup: func(t *testing.T, key string) {
				if err := direct.Put(t.Context(), key, strings.NewReader("to be read")); err != nil {
					t.Fatal(err)
				}
			},
			op: func(t *testing.T, b objstore.Bucket, key string) error {
				rc, err := b.Get(t.Context(), key)
				if err != nil {
					return err
				}
				defer rc.Close()
				got, err := io.ReadAll(rc)
				if err == nil && string(got) != "to be read" {
					err = fmt.Errorf("read %q", got)
				}
				return err
			},
			check: func(t *testing.T, key string, err error) {
				if err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name:   "a put-if-absent applied by the server but answered 500 succeeds on retry",
			script: []objtest.Fault{objtest.InternalErrorAfter},
			op: func(t *testing.T, b objstore.Bucket, key string) error {
				return b.PutIfAbsent(t.Context(), key, []byte("unique writer 1"))
			},
			check: func(t *testing.T, key string, err error) {
				if err != nil {
					t.Fatalf("put-if-absent: %v, want success (the first attempt wrote the object)", err)
				}
				if got := readAll(t, direct, key); string(got) != "unique writer 1" {
					t.Fatalf("content %q", got)
				}
			},
		},
		{
			name:   "a put-if-absent applied by the server but reset succeeds on retry",
			script: []objtest.Fault{objtest.ResetAfter, objtest.ResetBefore},
			op: func(t *testing.T, b objstore.Bucket, key string) error {
				return b.PutIfAbsent(t.Context(), key, []byte("unique writer 2"))
			},
			check: func(t *testing.T, key string, err error) {
				if err != nil {
					t.Fatalf("put-if-absent: %v, want success", err)
				}
			},
		},
		{
			name:   "a put-if-absent on an existing key stays refused when its 412 is lost",
			script: []objtest.Fault{objtest.ResetAfter},
			setup: func(t *testing.T, key string) {
				if err := direct.PutIfAbsent(t.Context(), key, []byte("the other writer")); err != nil {
					t.Fatal(err)
				}
			},
			op: func(t *testing.T, b objstore.Bucket, key string) error {
				return b.PutIfAbsent(t.Context(), key, []byte("the late writer"))
			},
			check: func(t *testing.T, key string, err error) {
				if !errors.Is(err, objstore.ErrExists) {
					t.Fatalf("put-if-absent: %v, want ErrExists", err)
				}
				if got := readAll(t, direct, key); string(got) != "the other writer" {
					t.Fatalf("content %q", got)
				}
			},
		},
		{
			// Requests: create, 3 parts (in any order), complete.
			name: "a multipart put whose completion was applied but answered 500 succeeds",
			script: []objtest.Fault{objtest.NoFault, objtest.NoFault, objtest.NoFault, objtest.NoFault,
				objtest.InternalErrorAfter},
			op: func(t *testing.T, b objstore.Bucket, key string) error {
				return b.Put(t.Context(), key, bytes.NewReader(randBytes(7, 12<<20)))
			},
			check: func(t *testing.T, key string, err error) {
				if err != nil {
					t.Fatalf("put: %v, want success (the completion was applied)", err)
				}
				if got := readAll(t, direct, key); !bytes.Equal(got, randBytes(7, 12<<20)) {
					t.Fatalf("content differs (%d bytes)", len(got))
				}
			},
		},
		{
			name: "a multipart put survives faults on its create, parts and completion",
			script: []objtest.Fault{objtest.SlowDownBefore, objtest.ResetBefore, objtest.NoFault,
				objtest.InternalErrorAfter, objtest.ResetAfter, objtest.InternalErrorBefore, objtest.ResetAfter},
			op: func(t *testing.T, b objstore.Bucket, key string) error {
				return b.Put(t.Context(), key, bytes.NewReader(randBytes(8, 11<<20)))
			},
			check: func(t *testing.T, key string, err error) {
				if err != nil {
					t.Fatalf("put: %v", err)
				}
				if got := readAll(t, direct, key); !bytes.Equal(got, randBytes(8, 11<<20)) {
					t.Fatalf("content differs (%d bytes)", len(got))
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "faults/" + strings.ReplaceAll(tc.name, " ", "-")
			if tc.setup != nil {
				tc.setup(t, key)
			}
			b, proxy := proxied(t, srv, objtest.FaultConfig{Script: tc.script})
			err := tc.op(t, b, key)
			tc.check(t, key, err)
			c := proxy.Counts()
			for _, r := range proxy.Requests() {
				t.Logf("%s %s: %s", r.Method, r.Target, r.Fault)
			}
			if got, want := c.Total(), countFaults(tc.script); got != want {
				t.Fatalf("proxy injected %d faults, want the %d scripted (%+v)", got, want, c)
			}
			if c.Requests <= len(tc.script) {
				t.Fatalf("proxy saw %d requests; the %d scripted ones were not all retried", c.Requests, len(tc.script))
			}
		})
	}

	t.Run("retries stop after MaxAttempts", func(t *testing.T) {
		script := make([]objtest.Fault, 10)
		for i := range script {
			script[i] = objtest.InternalErrorBefore
		}
		b, proxy := proxied(t, srv, objtest.FaultConfig{Script: script}, func(o *objstore.S3Options) { o.MaxAttempts = 3 })
		_, err := b.Stat(t.Context(), "faults/never")
		if err == nil || errors.Is(err, objstore.ErrNotExist) {
			t.Fatalf("stat through persistent 500s: %v, want a server error", err)
		}
		if n := proxy.Counts().Requests; n != 3 {
			t.Fatalf("%d attempts, want MaxAttempts = 3", n)
		}
	})
}

func countFaults(script []objtest.Fault) int {
	n := 0
	for _, f := range script {
		if f != objtest.NoFault {
			n++
		}
	}
	return n
}

// TestS3RandomizedFaults runs a random mix of puts, racing put-if-absents
// and reads through a proxy that fails about a quarter of all requests, half
// of them after the server applied the request. Every operation must succeed
// (with its retries), every put-if-absent key must have exactly one winner,
// and the bucket must end up holding exactly the expected objects.
func TestS3RandomizedFaults(t *testing.T) {
	const seed = 20240601
	srv := objtest.StartVersity(t)
	srv.CreateBucket(t, "random-faults")
	cfg := objtest.FaultConfig{
		Seed:          seed,
		InternalError: 0.06,
		SlowDown:      0.06,
		Reset:         0.06,
		After:         0.5,
		Delay:         0.1,
		MaxDelay:      20 * 1e6, // 20ms
	}
	proxy := objtest.NewFaultProxy(t, srv.Endpoint, cfg)
	b := srv.NewBucket(t, "random-faults", func(o *objstore.S3Options) { o.Endpoint = proxy.URL })
	direct := srv.NewBucket(t, "random-faults")

	type op struct {
		kind string // put, put-if-absent, get
		key  string
		data []byte
	}
	rng := rand.New(rand.NewPCG(seed, 2))
	var ops []op
	want := map[string][]byte{} // final content of put keys
	for i := range 200 {
		key := fmt.Sprintf("put/%03d", i)
		size := 100 + rng.IntN(4000)
		if i%20 == 0 {
			size = 6<<20 + rng.IntN(5<<20) // multipart: 2-3 parts
		}
		data := randBytes(uint64(i), size)
		ops = append(ops, op{"put", key, data})
		want[key] = data
	}
	piaKeys := 60
	for k := range piaKeys {
		for w := range 3 { // three writers race for each key
			ops = append(ops, op{"put-if-absent", fmt.Sprintf("pia/%03d", k), fmt.Appendf(nil, "writer %d of key %d", w, k)})
		}
	}
	rng.Shuffle(len(ops), func(i, j int) { ops[i], ops[j] = ops[j], ops[i] })

	var mu sync.Mutex
	winners := map[string][]byte{}
	done := map[string]bool{}
	g, ctx := errgroup.WithContext(t.Context())
	g.SetLimit(8)
	for _, o := range ops {
		g.Go(func() error {
			switch o.kind {
			case "put":
				if err := b.Put(ctx, o.key, bytes.NewReader(o.data)); err != nil {
					return err
				}
				// Read it back through the faults.
				rc, err := b.Get(ctx, o.key)
				if err != nil {
					return err
				}
				got, err := io.ReadAll(rc)
				_ = rc.Close()
				if err != nil {
					return fmt.Errorf("read %s: %w", o.key, err)
				}
				if !bytes.Equal(got, o.data) {
					return fmt.Errorf("read %s: content differs", o.key)
				}
				mu.Lock()
				done[o.key] = true
				mu.Unlock()
			case "put-if-absent":
				err := b.PutIfAbsent(ctx, o.key, o.data)
				switch {
				case err == nil:
					mu.Lock()
					defer mu.Unlock()
					if prev, ok := winners[o.key]; ok {
						return fmt.Errorf("key %s won twice: %q and %q", o.key, prev, o.data)
					}
					winners[o.key] = o.data
				case errors.Is(err, objstore.ErrExists):
				default:
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("operation through faults: %v (proxy %+v)", err, proxy.Counts())
	}
	c := proxy.Counts()
	t.Logf("proxy: %d requests, faults injected %v", c.Requests, c.Injected)
	if c.Total() < 20 {
		t.Fatalf("only %d faults injected; the run tested little", c.Total())
	}

	if len(winners) != piaKeys {
		t.Fatalf("%d put-if-absent keys have a winner, want all %d", len(winners), piaKeys)
	}
	for k, data := range winners {
		want[k] = data
	}
	got := map[string]bool{}
	if err := direct.List(t.Context(), "", func(a objstore.Attributes) error {
		got[a.Key] = true
		w, ok := want[a.Key]
		if !ok {
			return fmt.Errorf("unexpected object %s", a.Key)
		}
		if a.Size != int64(len(w)) {
			return fmt.Errorf("object %s: size %d, want %d", a.Key, a.Size, len(w))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for k, w := range want {
		if !got[k] {
			t.Fatalf("object %s missing", k)
		}
		if strings.HasPrefix(k, "pia/") {
			if data := readAll(t, direct, k); !bytes.Equal(data, w) {
				t.Fatalf("object %s = %q, want the winner's %q", k, data, w)
			}
		}
	}
	// A multipart upload stays open only when its creation was applied but
	// the response lost (the client never learnt its id); such uploads are
	// what AbortIncompleteUploads (or a bucket lifecycle rule) cleans up.
	lostCreates := 0
	for _, r := range proxy.Requests() {
		if r.Method == "POST" && strings.HasSuffix(r.Target, "?uploads=") &&
			(r.Fault == objtest.InternalErrorAfter || r.Fault == objtest.SlowDownAfter || r.Fault == objtest.ResetAfter) {
			lostCreates++
		}
	}
	n, err := direct.AbortIncompleteUploads(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if n > lostCreates {
		t.Fatalf("%d multipart uploads left open, but only %d creations lost their response", n, lostCreates)
	}
	t.Logf("aborted %d orphaned multipart uploads (%d creations lost their response)", n, lostCreates)
	left, err := direct.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String("random-faults")})
	if err != nil {
		t.Fatal(err)
	}
	if len(left.Uploads) != 0 {
		t.Fatalf("%d multipart uploads open after AbortIncompleteUploads", len(left.Uploads))
	}
}
