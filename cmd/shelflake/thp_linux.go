package main

import "golang.org/x/sys/unix"

// disableHugePages keeps the process's memory off transparent huge pages.
// On hosts where the kernel backs all anonymous memory with them
// (transparent_hugepage=always, the default of many distributions) the
// ingester's ~20 MiB of live rows under a 16 MiB budget were resident at
// 540-980 MiB: every 2 MiB page that a few live objects touch stays whole,
// and khugepaged collapses sparse ones back. With the flag a host behaves
// like one set to madvise, where shelflake's memory figures are measured.
// The flag is the process's (PR_SET_THP_DISABLE) and inherited by children;
// an error (an old kernel) leaves the host's setting in force.
func disableHugePages() error {
	return unix.Prctl(unix.PR_SET_THP_DISABLE, 1, 0, 0, 0)
}
