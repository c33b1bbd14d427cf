//go:build unix

package objstore

import (
	"errors"
	"io/fs"
	"syscall"
)

// inode returns the file's inode number (0 if unknown).
func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}

// isNotDir reports whether err says a path component is not a directory.
func isNotDir(err error) bool { return errors.Is(err, syscall.ENOTDIR) }
