package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Local is a Bucket on the local filesystem: key "a/b/c" is the file
// <root>/a/b/c. It is safe for concurrent use, also by several processes
// sharing root.
//
// Writes go to a temporary file (name starting with ".tmp-") in the target's
// directory, which is fsynced and closed before it is renamed (Put) or
// hard-linked (PutIfAbsent) into place; the directory is fsynced after. A
// crash can leave a temporary file behind; List never shows it.
//
// Limitation of the filesystem mapping: a key cannot be both an object and a
// directory of other objects ("a" and "a/b" cannot coexist); writing the
// second one fails (PutIfAbsent reports ErrExists). The filesystem must
// support hard links (every local Linux/macOS filesystem does).
type Local struct {
	root string
}

var _ Bucket = (*Local)(nil)

// NewLocal returns a Local bucket rooted at root (made absolute and created
// if missing).
func NewLocal(root string) (*Local, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("local bucket %q: %w", root, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("local bucket %q: %w", root, err)
	}
	return &Local{root: abs}, nil
}

// ErrNoRoot is returned (wrapped, as a *NoRootError) by NewLocalExisting
// when the root is missing or is not a directory.
var ErrNoRoot = errors.New("no such directory")

// NoRootError is NewLocalExisting's error for a root that is not an
// existing directory. It matches ErrNoRoot with errors.Is.
type NoRootError struct {
	Root   string // the absolute path looked at
	IsFile bool   // the path exists but is not a directory
}

func (e *NoRootError) Error() string {
	if e.IsFile {
		return e.Root + " is a file, not a directory"
	}
	return e.Root + " does not exist"
}

// Is makes errors.Is(err, ErrNoRoot) true.
func (e *NoRootError) Is(target error) bool { return target == ErrNoRoot }

// NewLocalExisting returns a Local bucket rooted at root, which must be an
// existing directory: unlike NewLocal it creates nothing. A missing root, or
// one that is a file, is a *NoRootError (errors.Is ErrNoRoot).
func NewLocalExisting(root string) (*Local, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("local bucket %q: %w", root, err)
	}
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist) || isNotDir(err):
		return nil, fmt.Errorf("local bucket %q: %w", root, &NoRootError{Root: abs})
	case err != nil:
		return nil, fmt.Errorf("local bucket %q: %w", root, err)
	case !fi.IsDir():
		return nil, fmt.Errorf("local bucket %q: %w", root, &NoRootError{Root: abs, IsFile: true})
	}
	return &Local{root: abs}, nil
}

// Root returns the absolute directory holding the bucket's objects.
func (l *Local) Root() string { return l.root }

// Path returns the local file path of key. It does not check that the object
// exists. DuckDB and other local readers can open it directly: objects are
// replaced by rename, so an open file never changes under a reader.
func (l *Local) Path(key string) string {
	return filepath.Join(l.root, filepath.FromSlash(key))
}

// String returns the bucket's file:// URI.
func (l *Local) String() string { return "file://" + filepath.ToSlash(l.root) }

// Close does nothing; a Local bucket holds no resources.
func (l *Local) Close() error { return nil }

// Put writes r to key atomically (temp file, fsync, rename, directory fsync).
func (l *Local) Put(ctx context.Context, key string, r io.Reader) error {
	if err := l.check(ctx, key); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	tmp, err := l.writeTemp(ctx, key, r)
	if err != nil {
		return fmt.Errorf("put %s in %s: %w", key, l, err)
	}
	if err := os.Rename(tmp, l.Path(key)); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("put %s in %s: %w", key, l, err)
	}
	if err := syncDir(filepath.Dir(tmp)); err != nil {
		return fmt.Errorf("put %s in %s: %w", key, l, err)
	}
	return nil
}

// PutIfAbsent writes data to key only if key does not exist. The content is
// written to a fsynced temp file first and then hard-linked to the key, which
// the kernel does atomically and refuses with EEXIST when the key exists, so
// it is exclusive across processes sharing the directory.
func (l *Local) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	if err := l.check(ctx, key); err != nil {
		return fmt.Errorf("put-if-absent %s: %w", key, err)
	}
	tmp, err := l.writeTemp(ctx, key, bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("put-if-absent %s in %s: %w", key, l, err)
	}
	linkErr := os.Link(tmp, l.Path(key))
	rmErr := os.Remove(tmp)
	if linkErr != nil {
		if errors.Is(linkErr, fs.ErrExist) {
			return fmt.Errorf("put-if-absent %s in %s: %w", key, l, ErrExists)
		}
		return fmt.Errorf("put-if-absent %s in %s: %w", key, l, linkErr)
	}
	if rmErr != nil {
		// The object is in place; the stray temp file is invisible to List.
		return fmt.Errorf("put-if-absent %s in %s: object written, removing temp file: %w", key, l, rmErr)
	}
	if err := syncDir(filepath.Dir(tmp)); err != nil {
		return fmt.Errorf("put-if-absent %s in %s: %w", key, l, err)
	}
	return nil
}

// writeTemp writes r to a new temporary file next to key's path, fsyncs and
// closes it, and returns its name. On error nothing is left behind.
func (l *Local) writeTemp(ctx context.Context, key string, r io.Reader) (name string, err error) {
	dir := filepath.Dir(l.Path(key))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if _, err := io.Copy(f, ctxReader{ctx: ctx, r: r}); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	if err := f.Chmod(0o644); err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// Get opens key for reading.
func (l *Local) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	return l.GetRange(ctx, key, 0, -1)
}

// GetRange opens key and reads length bytes from offset (to the end if
// length < 0). An offset beyond the end of the object is an error.
func (l *Local) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := l.check(ctx, key); err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	if offset < 0 {
		return nil, fmt.Errorf("get %s in %s: negative offset %d", key, l, offset)
	}
	f, err := os.Open(l.Path(key))
	if err != nil {
		return nil, l.readErr("get", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("get %s in %s: %w", key, l, err)
	}
	if fi.IsDir() {
		_ = f.Close()
		return nil, fmt.Errorf("get %s in %s: %w", key, l, ErrNotExist)
	}
	if offset > fi.Size() {
		_ = f.Close()
		return nil, fmt.Errorf("get %s in %s: offset %d beyond size %d", key, l, offset, fi.Size())
	}
	n := fi.Size() - offset
	if length >= 0 && length < n {
		n = length
	}
	return ctxReadCloser{
		ctxReader: ctxReader{ctx: ctx, r: io.NewSectionReader(f, offset, n)},
		Closer:    f,
	}, nil
}

// Stat returns key's attributes. The ETag is derived from the file's size,
// modification time (ns) and inode, so it changes whenever Put replaces the
// object.
func (l *Local) Stat(ctx context.Context, key string) (Attributes, error) {
	if err := l.check(ctx, key); err != nil {
		return Attributes{}, fmt.Errorf("stat %s: %w", key, err)
	}
	fi, err := os.Stat(l.Path(key))
	if err != nil {
		return Attributes{}, l.readErr("stat", key, err)
	}
	if fi.IsDir() {
		return Attributes{}, fmt.Errorf("stat %s in %s: %w", key, l, ErrNotExist)
	}
	return localAttributes(key, fi), nil
}

func localAttributes(key string, fi fs.FileInfo) Attributes {
	return Attributes{
		Key:          key,
		Size:         fi.Size(),
		LastModified: fi.ModTime(),
		ETag:         fmt.Sprintf("%x-%x-%x", fi.Size(), fi.ModTime().UnixNano(), inode(fi)),
	}
}

// readErr wraps an error from opening or stating key's file; a missing file
// (or a missing or non-directory parent) becomes ErrNotExist.
func (l *Local) readErr(op, key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) || isNotDir(err) {
		return fmt.Errorf("%s %s in %s: %w", op, key, l, ErrNotExist)
	}
	return fmt.Errorf("%s %s in %s: %w", op, key, l, err)
}

// Delete removes key; a missing key is not an error. Emptied directories are
// left in place (removing them would race with a concurrent Put).
func (l *Local) Delete(ctx context.Context, key string) error {
	if err := l.check(ctx, key); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	p := l.Path(key)
	fi, err := os.Lstat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || isNotDir(err) {
			return nil
		}
		return fmt.Errorf("delete %s in %s: %w", key, l, err)
	}
	if fi.IsDir() {
		return nil // not an object
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s in %s: %w", key, l, err)
	}
	return nil
}

// List calls fn for every object whose key starts with prefix, recursively,
// in lexical key order. It streams: directories are read one at a time,
// their entries ordered so that the visit order equals the key order.
func (l *Local) List(ctx context.Context, prefix string, fn func(Attributes) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("list %s in %s: %w", prefix, l, err)
	}
	if err := validatePrefix(prefix); err != nil {
		return fmt.Errorf("list in %s: %w", l, err)
	}
	// Start in the deepest directory the prefix names completely; the rest
	// of the prefix filters that directory's entry names.
	dirKey, base := "", prefix
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		dirKey, base = prefix[:i], prefix[i+1:]
	}
	err := l.walk(ctx, dirKey, base, fn)
	var le listErr
	if errors.As(err, &le) {
		return fmt.Errorf("list %s in %s: %w", prefix, l, le.err)
	}
	return err
}

// listErr marks an error of List itself, as opposed to one returned by fn
// (which List returns unchanged).
type listErr struct{ err error }

func (e listErr) Error() string { return e.err.Error() }

// walk visits the objects under directory dirKey ("" is the root) whose
// entry name in dirKey starts with base.
func (l *Local) walk(ctx context.Context, dirKey, base string, fn func(Attributes) error) error {
	if err := ctx.Err(); err != nil {
		return listErr{err}
	}
	entries, err := os.ReadDir(filepath.Join(l.root, filepath.FromSlash(dirKey)))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || isNotDir(err) {
			return nil // nothing under a missing directory
		}
		return listErr{err}
	}
	type entry struct {
		sortKey string // name, with a trailing slash for directories
		de      fs.DirEntry
	}
	list := make([]entry, 0, len(entries))
	for _, de := range entries {
		name := de.Name()
		if !strings.HasPrefix(name, base) || strings.HasPrefix(name, tempPrefix) {
			continue
		}
		sk := name
		if de.IsDir() {
			sk += "/"
		}
		list = append(list, entry{sk, de})
	}
	// All keys under directory d start with "d/", and no file name in the
	// same directory has "d/" as a prefix, so ordering the entries by name
	// (directories with the slash) orders the keys.
	slices.SortFunc(list, func(a, b entry) int { return strings.Compare(a.sortKey, b.sortKey) })
	for _, e := range list {
		key := e.de.Name()
		if dirKey != "" {
			key = dirKey + "/" + key
		}
		if e.de.IsDir() {
			if err := l.walk(ctx, key, "", fn); err != nil {
				return err
			}
			continue
		}
		if !e.de.Type().IsRegular() {
			continue
		}
		fi, err := e.de.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted while listing
			}
			return listErr{err}
		}
		if err := fn(localAttributes(key, fi)); err != nil {
			return err
		}
	}
	return nil
}

func (l *Local) check(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return ValidateKey(key)
}

// syncDir fsyncs a directory so that a rename or link in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return d.Close()
}
