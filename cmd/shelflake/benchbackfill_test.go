package main

import (
	"os/exec"
	"runtime"
	"testing"
)

func TestVmHWM(t *testing.T) {
	for _, c := range []struct {
		name, status string
		want         int64
	}{
		{"kilobytes", "Name:\tshelflake\nVmPeak:\t  900 kB\nVmHWM:\t   12345 kB\nVmRSS:\t 100 kB\n", 12345 << 10},
		{"absent (a zombie)", "Name:\tshelflake\nState:\tZ (zombie)\n", 0},
		{"other unit", "VmHWM:\t12 MB\n", 0},
		{"not a number", "VmHWM:\tlots kB\n", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := vmHWM([]byte(c.status)); got != c.want {
				t.Fatalf("vmHWM = %d, want %d", got, c.want)
			}
		})
	}
}

// A child's sampled peak is its own, not the parent's: ru_maxrss would
// report at least the 256 MiB this test holds.
func TestWatchPeakRSSIsTheChildsOwn(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	ballast := make([]byte, 256<<20)
	for i := range ballast {
		ballast[i] = 1
	}
	cmd := exec.Command("sleep", "0.3")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	peak := watchPeakRSS(cmd.Process.Pid)
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	got := peak()
	runtime.KeepAlive(ballast)
	if got <= 0 || got > 64<<20 {
		t.Fatalf("sleep's peak RSS %d bytes: want its own few MiB", got)
	}
}
