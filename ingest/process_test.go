package ingest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/objstore"
	"github.com/shelflake/shelflake/lake/objstore/objtest"
	"github.com/shelflake/shelflake/schema"
)

// The shelflake binary the subprocess tests run, built once per test
// binary with the module's build tags.
var shelflakeBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func binary(t testing.TB) string {
	t.Helper()
	shelflakeBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "shelflake-ingest-test-")
		if err != nil {
			shelflakeBin.err = err
			return
		}
		shelflakeBin.dir = dir
		shelflakeBin.path = filepath.Join(dir, "shelflake")
		cmd := exec.Command("go", "build", "-tags", "duckdb_arrow", "-o", shelflakeBin.path, "../cmd/shelflake")
		if out, err := cmd.CombinedOutput(); err != nil {
			shelflakeBin.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if shelflakeBin.err != nil {
		t.Fatal(shelflakeBin.err)
	}
	return shelflakeBin.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shelflakeBin.dir != "" {
		_ = os.RemoveAll(shelflakeBin.dir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// proc is a `shelflake ingest` subprocess.
type proc struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
	peak int64 // highest VmHWM seen, bytes
}

// ingestEnv are the environment and lake URI the subprocesses use.
type ingestEnv struct {
	brokers string
	lakeURI string
	env     []string
	group   string
	args    []string
}

func startIngest(t testing.TB, e ingestEnv, name string, extra ...string) *proc {
	t.Helper()
	dir := t.TempDir()
	if d := os.Getenv("SHELFLAKE_TEST_LOG_DIR"); d != "" { // keep the logs for a look
		dir = d
	}
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"ingest", "--brokers", e.brokers, "--lake", e.lakeURI, "--group", e.group,
		"--http", "", "--log-level", "debug"}
	args = append(append(args, e.args...), extra...)
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append(os.Environ(), e.env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.signal(syscall.SIGKILL)
		<-p.done
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			lines := strings.Split(string(b), "\n")
			t.Logf("last log lines of %s:\n%s", name, strings.Join(lines[max(0, len(lines)-40):], "\n"))
		}
	})
	return p
}

func (p *proc) signal(s syscall.Signal) {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(s)
	}
}

func (p *proc) kill() {
	p.signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(timeout time.Duration) error {
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		p.signal(syscall.SIGQUIT) // the goroutine dump goes to the log
		select {
		case <-p.done:
		case <-time.After(2 * time.Second):
		}
		p.kill()
		b, _ := os.ReadFile(p.log)
		if i := bytes.Index(b, []byte("SIGQUIT")); i >= 0 {
			p.t.Logf("%s goroutines:\n%s", p.name, b[i:])
		}
		return fmt.Errorf("%s did not exit within %v of SIGTERM", p.name, timeout)
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// sampleRSS records the process's peak resident set (VmHWM).
func (p *proc) sampleRSS() {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err == nil {
				p.peak = max(p.peak, kb<<10)
			}
		}
	}
}

// logCount counts log lines of p containing s.
func (p *proc) logCount(s string) int {
	b, _ := os.ReadFile(p.log)
	return strings.Count(string(b), s)
}

// s3Lake starts versitygw (behind a fault proxy when faults is set) and
// returns the environment for subprocesses and a lake for the test to read
// (directly, without faults).
func s3Lake(t testing.TB, faults ...objtest.FaultConfig) (ingestEnv, *lake.Lake, []*objtest.FaultProxy) {
	t.Helper()
	srv := objtest.StartVersity(t)
	uri := srv.URI
	// Each proxy is in front of the previous one; the ingesters talk to
	// the last.
	var proxies []*objtest.FaultProxy
	upstream := srv.Endpoint
	for _, f := range faults {
		p := objtest.NewFaultProxy(t, upstream, f)
		proxies = append(proxies, p)
		upstream = p.URL
		via := *srv
		via.Endpoint = p.URL
		uri = via.BucketURI(objtest.TestBucket)
	}
	var env []string
	for _, kv := range srv.Env() {
		if !strings.HasPrefix(kv, "AWS_ENDPOINT_URL_S3=") { // the URI names the endpoint (maybe the proxy)
			env = append(env, kv)
		}
	}
	l, err := lake.Open(context.Background(), srv.URI, lake.Options{
		CacheDir: t.TempDir(),
		Open: []objstore.OpenOption{objstore.WithS3Options(func(o *objstore.S3Options) {
			*o = srv.Options(objtest.TestBucket)
		})},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return ingestEnv{lakeURI: uri, env: env}, l, proxies
}

// backgroundProducer produces batches of the workload until stopped.
type backgroundProducer struct {
	mu   sync.Mutex
	ds   dataset
	stop chan struct{}
	done chan struct{}
}

func produceInBackground(t testing.TB, addr string, seed uint64, batches int, perBatch int64, every time.Duration) *backgroundProducer {
	t.Helper()
	prod := newProducer(t, addr)
	bp := &backgroundProducer{stop: make(chan struct{}), done: make(chan struct{}), ds: dataset{txns: map[string]bool{}}}
	go func() {
		defer close(bp.done)
		for b := range batches {
			d := produceWorkload(t, prod, seed+uint64(b), int64(b)*perBatch, perBatch, 7, 97)
			bp.mu.Lock()
			bp.ds.merge(d)
			bp.mu.Unlock()
			select {
			case <-bp.stop:
				return
			case <-time.After(every):
			}
		}
	}()
	return bp
}

// finish stops producing and returns what was produced.
func (bp *backgroundProducer) finish() dataset {
	close(bp.stop)
	return bp.wait()
}

func (bp *backgroundProducer) wait() dataset {
	<-bp.done
	bp.mu.Lock()
	defer bp.mu.Unlock()
	return bp.ds
}

// waitComplete polls the lake until it holds every record of the topic
// (produced before the call), failing if any ingester of procs died, and
// returns what the lake holds.
func waitComplete(t testing.TB, l *lake.Lake, e ingestEnv, timeout time.Duration, procs ...*proc) lakeState {
	t.Helper()
	waitUntil(t, timeout, 300*time.Millisecond, "the lake to hold every record", func() bool {
		for _, p := range procs {
			if p.exited() {
				t.Fatalf("%s exited early: %v", p.name, p.err)
			}
			p.sampleRSS()
		}
		return caughtUp(t, context.Background(), l, e.brokers, e.group)
	})
	return readLake(t, context.Background(), l)
}

func TestIngestSurvivesSIGKILLs(t *testing.T) {
	binary(t) // before the clock starts: building takes a while
	c := startCluster(t, 4)
	e, l, _ := s3Lake(t)
	e.brokers, e.group = c.ListenAddrs()[0], "crash"
	e.args = []string{"--flush-interval", "200ms", "--session-timeout", "1s", "--rebalance-timeout", "3s", "--max-buffer-bytes", "64MiB"}

	bp := produceInBackground(t, e.brokers, 10, 1000, 1000, 300*time.Millisecond)
	rng := rand.New(rand.NewPCG(7, 7))
	const kills = 6
	for k := range kills {
		// Kill at a random moment after the ingester made progress (so
		// every run commits something and dies with more in flight).
		v0 := commitCount(t, l)
		p := startIngest(t, e, fmt.Sprintf("ingest-%d", k))
		waitUntil(t, 30*time.Second, 50*time.Millisecond, "a commit", func() bool { return commitCount(t, l) > v0 })
		time.Sleep(time.Duration(rng.IntN(1000)) * time.Millisecond)
		if p.exited() {
			t.Fatalf("ingester %d exited on its own: %v", k, p.err)
		}
		p.kill()
	}
	ds := bp.finish()
	p := startIngest(t, e, "ingest-final")
	waitComplete(t, l, e, 90*time.Second, p)
	if err := p.stop(30 * time.Second); err != nil {
		t.Fatalf("final ingester: %v", err)
	}
	st := readLake(t, context.Background(), l)
	checkExactlyOnce(t, st, ds)
	t.Logf("%d valid transactions (%d lines), %d malformed, %d pos files, after %d SIGKILLs",
		ds.valid.Docs, ds.valid.Lines, ds.malformed, st.posFiles, kills)
}

func TestIngestFencesAZombieAfterARebalance(t *testing.T) {
	binary(t) // before the clock starts: building takes a while
	c := startCluster(t, 4)
	e, l, _ := s3Lake(t)
	e.brokers, e.group = c.ListenAddrs()[0], "zombie"
	e.args = []string{"--flush-interval", "400ms", "--session-timeout", "1s", "--rebalance-timeout", "3s"}

	bp := produceInBackground(t, e.brokers, 20, 1000, 400, 250*time.Millisecond)
	a := startIngest(t, e, "ingest-a")
	b := startIngest(t, e, "ingest-b")
	time.Sleep(2 * time.Second) // both consuming
	// A freezes past its session timeout: B takes its partitions. A wakes
	// up holding buffers for partitions it no longer owns.
	a.signal(syscall.SIGSTOP)
	time.Sleep(3 * time.Second)
	a.signal(syscall.SIGCONT)
	time.Sleep(2 * time.Second)
	// Then B dies without a word: A takes everything back.
	time.Sleep(time.Second)
	b.kill()
	time.Sleep(time.Second)
	ds := bp.finish()
	waitComplete(t, l, e, 90*time.Second, a)
	if err := a.stop(30 * time.Second); err != nil {
		t.Fatalf("ingester a: %v", err)
	}
	st := readLake(t, context.Background(), l)
	checkExactlyOnce(t, st, ds)
	t.Logf("%d valid transactions, %d malformed; A logged %d fenced flushes, %d lost-partition events",
		ds.valid.Docs, ds.malformed, a.logCount("flush fenced"), a.logCount("partitions lost"))
}

func TestIngestThroughS3Faults(t *testing.T) {
	binary(t) // before the clock starts: building takes a while
	c := startCluster(t, 4)
	// Random faults on every request, and an outage: for 13 seconds every
	// request fails, longer than the object store's retries last, so
	// commits fail and the ingester has to rewind.
	e, l, proxies := s3Lake(t,
		objtest.FaultConfig{Seed: 42, InternalError: 0.06, SlowDown: 0.06, Reset: 0.04, After: 0.5, Delay: 0.1, MaxDelay: 30 * time.Millisecond},
		objtest.FaultConfig{Seed: 43, InternalError: 0.5, SlowDown: 0.3, Reset: 0.2, After: 0.5},
	)
	random, outage := proxies[0], proxies[1]
	outage.SetEnabled(false)
	e.brokers, e.group = c.ListenAddrs()[0], "faults"
	e.args = []string{"--flush-interval", "300ms", "--session-timeout", "1s", "--rebalance-timeout", "3s"}

	bp := produceInBackground(t, e.brokers, 30, 1000, 1000, 300*time.Millisecond)
	p := startIngest(t, e, "ingest-faulty-1")
	time.Sleep(3 * time.Second)
	outage.SetEnabled(true) // longer than the S3 client's 8 attempts last
	time.Sleep(13 * time.Second)
	outage.SetEnabled(false)
	time.Sleep(2 * time.Second)
	p.kill()
	ds := bp.finish()
	p = startIngest(t, e, "ingest-faulty-2")
	waitComplete(t, l, e, 120*time.Second, p)
	if err := p.stop(30 * time.Second); err != nil {
		t.Fatalf("ingester: %v", err)
	}
	st := readLake(t, context.Background(), l)
	checkExactlyOnce(t, st, ds)
	t.Logf("random faults: %+v; outages: %+v; %d valid transactions, %d malformed, %d pos files",
		random.Counts(), outage.Counts(), ds.valid.Docs, ds.malformed, st.posFiles)
	if random.Counts().Total() == 0 || outage.Counts().Total() == 0 {
		t.Error("the proxies injected no fault")
	}
}

func TestIngestBacklogStaysWithinTheMemoryBudget(t *testing.T) {
	binary(t) // before the clock starts: building takes a while
	budget := int64(16 << 20)
	if b := os.Getenv("SHELFLAKE_TEST_BUDGET"); b != "" { // to see what happens with another
		budget, _ = strconv.ParseInt(b, 10, 64)
	}
	const (
		// What an ingester needs beyond its buffer budget: ~42 MiB of the
		// binary's pages (DuckDB is linked in; an idle ingester's RSS is
		// ~47 MiB), the Go runtime, franz-go's fetch buffers (decompressed),
		// the Parquet encoders of the files being written and the tables'
		// Delta snapshots. (The same backlog with a 512 MiB budget peaks at
		// ~194 MiB.) Since rows reach parquet-go through its row path
		// (lake/parquet.go: its typed path wrote absent optional values as
		// empty strings) the peak here is 110–129 MiB, up from 91–99 MiB;
		// 122–137 MiB over 35 runs with transparent huge pages "always" on
		// a loaded machine (before buffer chunks grew from 32 rows, THP
		// made it 544–977 MiB).
		overhead = 128 << 20
		dates    = 150
	)
	c := startCluster(t, 8)
	addr := c.ListenAddrs()[0]
	prod := newProducer(t, addr)
	// The backlog: ~30 MB of POS JSON over 150 business dates, all there
	// before the ingester starts; as rows it is several times the budget.
	var ds dataset
	for b := range 6 {
		ds.merge(produceWorkload(t, prod, 100+uint64(b), int64(b)*8000, 8000, dates, 0))
	}
	if ds.valid.Bytes < budget*3/2 && os.Getenv("SHELFLAKE_TEST_BUDGET") == "" { // as rows it is more than twice its JSON
		t.Fatalf("backlog of %d bytes is too small to test a %d byte budget", ds.valid.Bytes, budget)
	}
	l, dir := openLocalLake(t)
	e := ingestEnv{brokers: addr, lakeURI: dir, group: "memory",
		args: []string{"--flush-interval", "2s", "--session-timeout", "2s", "--rebalance-timeout", "5s", "--max-buffer-bytes", strconv.FormatInt(budget, 10)}}
	p := startIngest(t, e, "ingest-memory", "--http", "127.0.0.1:0", "--pprof")
	w := watchMemory(t, p, budget+overhead)
	st := waitComplete(t, l, e, 150*time.Second, p)
	p.sampleRSS()
	w.stop()
	if err := p.stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, st, ds)
	t.Logf("backlog %d MB of JSON over %d dates, %d files; peak RSS %d MiB with a %d MiB budget; fetches paused %d times",
		ds.valid.Bytes>>20, dates, st.posFiles, p.peak>>20, budget>>20, p.logCount("pausing fetches"))
	if p.peak == 0 {
		t.Fatal("no RSS sample")
	}
	if p.peak > budget+overhead {
		t.Errorf("peak RSS %d MiB exceeds the budget %d MiB + %d MiB overhead", p.peak>>20, budget>>20, overhead>>20)
		w.report()
	}
	if p.logCount("pausing fetches") == 0 {
		t.Error("the budget never paused fetching: the test did not exercise it")
	}
}

// commitCount is the sum of the versions of the pos_lines and rejects
// tables: it grows with every commit.
func commitCount(t testing.TB, l *lake.Lake) int64 {
	t.Helper()
	var n int64
	for _, d := range []*schema.Table{schema.TablePOSLines(), schema.TableRejects()} {
		dt, err := l.Table(context.Background(), d)
		if err != nil {
			t.Fatal(err)
		}
		s, err := dt.Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		n += s.Version()
	}
	return n
}
