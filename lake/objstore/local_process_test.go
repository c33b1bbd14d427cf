package objstore_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/shelflake/shelflake/lake/objstore"
)

// Environment of the put-if-absent helper process (this test binary started
// again by TestLocalPutIfAbsentAcrossProcesses).
const (
	envHelperDir    = "SHELFLAKE_OBJSTORE_HELPER_DIR"
	envHelperWriter = "SHELFLAKE_OBJSTORE_HELPER_WRITER"
	envHelperKeys   = "SHELFLAKE_OBJSTORE_HELPER_KEYS"
)

// TestLocalPutIfAbsentAcrossProcesses races several OS processes, each with
// its own *Local on one directory, to put-if-absent the same keys: every key
// must have exactly one winner, and hold the winner's bytes.
func TestLocalPutIfAbsentAcrossProcesses(t *testing.T) {
	const procs, keys = 4, 60
	dir := t.TempDir()
	type proc struct {
		cmd   *exec.Cmd
		stdin io.WriteCloser
		out   bytes.Buffer
	}
	ps := make([]*proc, procs)
	for i := range ps {
		p := &proc{cmd: exec.CommandContext(t.Context(), os.Args[0])}
		p.cmd.Env = append(os.Environ(),
			envHelperDir+"="+dir,
			envHelperWriter+"="+strconv.Itoa(i),
			envHelperKeys+"="+strconv.Itoa(keys),
		)
		p.cmd.Stdout = &p.out
		p.cmd.Stderr = &p.out
		var err error
		if p.stdin, err = p.cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ps[i] = p
	}
	// Release all writers at once: each waits for a line on stdin.
	for _, p := range ps {
		if _, err := io.WriteString(p.stdin, "go\n"); err != nil {
			t.Fatal(err)
		}
		_ = p.stdin.Close()
	}
	winners := map[string]int{}
	for i, p := range ps {
		if err := p.cmd.Wait(); err != nil {
			t.Fatalf("writer %d: %v\n%s", i, err, p.out.String())
		}
		sc := bufio.NewScanner(&p.out)
		for sc.Scan() {
			key, ok := strings.CutPrefix(sc.Text(), "won ")
			if !ok {
				continue
			}
			if w, dup := winners[key]; dup {
				t.Fatalf("key %s won by writers %d and %d", key, w, i)
			}
			winners[key] = i
		}
	}
	perWriter := make([]int, procs)
	for _, w := range winners {
		perWriter[w]++
	}
	t.Logf("keys won per writer: %v", perWriter)
	l, err := objstore.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	for k := range keys {
		key := fmt.Sprintf("race/%03d", k)
		w, ok := winners[key]
		if !ok {
			t.Fatalf("key %s has no winner", key)
		}
		got, err := os.ReadFile(l.Path(key))
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("writer %d key %s", w, key); string(got) != want {
			t.Fatalf("key %s holds %q, want the winner's %q", key, got, want)
		}
	}
	entries, err := os.ReadDir(l.Path("race"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != keys {
		t.Fatalf("directory holds %d entries, want %d (temp files left behind?)", len(entries), keys)
	}
}

// putIfAbsentWriter is the writer process of
// TestLocalPutIfAbsentAcrossProcesses (TestMain runs it instead of the tests
// when the helper environment is set). It prints "won <key>" per key it won.
func putIfAbsentWriter(dir string) int {
	writer := os.Getenv(envHelperWriter)
	keys, err := strconv.Atoi(os.Getenv(envHelperKeys))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	l, err := objstore.NewLocal(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		fmt.Fprintln(os.Stderr, "wait for start:", err)
		return 2
	}
	ctx := context.Background()
	for k := range keys {
		key := fmt.Sprintf("race/%03d", k)
		err := l.PutIfAbsent(ctx, key, fmt.Appendf(nil, "writer %s key %s", writer, key))
		switch {
		case err == nil:
			fmt.Printf("won %s\n", key)
		case errors.Is(err, objstore.ErrExists):
		default:
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return 0
}
