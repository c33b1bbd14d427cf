package objstore

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// FileCache gives local readers (DuckDB, which cannot read s3:// here) local
// files for immutable objects of a bucket. A file is named after the object's
// key and ETag, downloaded on first use, and kept up to a total size; beyond
// it the least recently used files that nobody holds are deleted. The cache
// directory survives restarts: files found there are reused.
//
// For a bucket with local files (Local, or a wrapper around one) the cache
// copies nothing and returns the object's own path.
//
// A FileCache is safe for concurrent use by goroutines; one directory must
// not be shared by two FileCaches (or processes).
type FileCache struct {
	dir string
	max int64
	b   Bucket

	mu      sync.Mutex
	files   map[string]*cachedFile // by file name
	lru     *list.List             // of *cachedFile, most recent first
	size    int64
	loading map[string]*download
}

type cachedFile struct {
	name string
	size int64
	pins int
	elem *list.Element
}

type download struct {
	done chan struct{}
	err  error
}

// NewFileCache returns a cache of b's objects in dir (created if missing)
// holding up to maxBytes.
func NewFileCache(dir string, maxBytes int64, b Bucket) (*FileCache, error) {
	if maxBytes <= 0 {
		return nil, fmt.Errorf("file cache %s: size bound %d must be positive", dir, maxBytes)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("file cache %s: %w", dir, err)
	}
	c := &FileCache{
		dir:     dir,
		max:     maxBytes,
		b:       b,
		files:   map[string]*cachedFile{},
		lru:     list.New(),
		loading: map[string]*download{},
	}
	if err := c.adopt(); err != nil {
		return nil, fmt.Errorf("file cache %s: %w", dir, err)
	}
	return c, nil
}

// adopt takes over the files a previous run left, oldest use last.
func (c *FileCache) adopt() error {
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return err
	}
	type found struct {
		name  string
		size  int64
		mtime int64
	}
	var fs []found
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if strings.HasPrefix(e.Name(), tempPrefix) {
			_ = os.Remove(filepath.Join(c.dir, e.Name())) // an interrupted download
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		fs = append(fs, found{e.Name(), fi.Size(), fi.ModTime().UnixNano()})
	}
	slices.SortFunc(fs, func(a, b found) int { return int(b.mtime - a.mtime) })
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range fs {
		cf := &cachedFile{name: f.name, size: f.size}
		cf.elem = c.lru.PushBack(cf)
		c.files[f.name] = cf
		c.size += f.size
	}
	c.evict()
	return nil
}

// Dir returns the cache directory.
func (c *FileCache) Dir() string { return c.dir }

// Size returns the bytes the cached files take.
func (c *FileCache) Size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size
}

// LocalPath returns a local file holding key's object, downloading it on a
// miss. The file stays at least until the next call that adds a file; to keep
// several files while a query reads them, use Acquire. Missing keys give
// ErrNotExist.
func (c *FileCache) LocalPath(ctx context.Context, key string) (string, error) {
	p, release, err := c.acquire(ctx, key)
	if err != nil {
		return "", err
	}
	release(false) // unpinned, but evicted only by a later addition
	return p, nil
}

// Acquire is LocalPath with a hold: the file is not evicted until release is
// called (the cache may exceed its bound meanwhile). release is idempotent.
func (c *FileCache) Acquire(ctx context.Context, key string) (path string, release func(), err error) {
	p, rel, err := c.acquire(ctx, key)
	if err != nil {
		return "", nil, err
	}
	var once sync.Once
	return p, func() { once.Do(func() { rel(true) }) }, nil
}

func (c *FileCache) acquire(ctx context.Context, key string) (string, func(evict bool), error) {
	a, err := c.b.Stat(ctx, key)
	if err != nil {
		return "", nil, fmt.Errorf("cache %s: %w", key, err)
	}
	if lf, ok := c.b.(LocalFiles); ok {
		if p, ok := lf.LocalFile(key); ok {
			return p, func(bool) {}, nil
		}
	}
	name := cacheName(key, a.ETag)
	full := filepath.Join(c.dir, name)
	for {
		c.mu.Lock()
		if f, ok := c.files[name]; ok {
			f.pins++
			c.lru.MoveToFront(f.elem)
			c.mu.Unlock()
			return full, c.unpinFunc(f), nil
		}
		if d, ok := c.loading[name]; ok {
			c.mu.Unlock()
			select {
			case <-d.done:
			case <-ctx.Done():
				return "", nil, fmt.Errorf("cache %s: %w", key, ctx.Err())
			}
			if d.err != nil && !(errors.Is(d.err, context.Canceled) && ctx.Err() == nil) {
				return "", nil, d.err
			}
			continue // cached now, or the other caller gave up: try again
		}
		d := &download{done: make(chan struct{})}
		c.loading[name] = d
		c.mu.Unlock()

		err := c.fetch(ctx, key, a.Size, full)

		c.mu.Lock()
		delete(c.loading, name)
		d.err = err
		close(d.done)
		if err != nil {
			c.mu.Unlock()
			return "", nil, err
		}
		f := &cachedFile{name: name, size: a.Size, pins: 1}
		f.elem = c.lru.PushFront(f)
		c.files[name] = f
		c.size += f.size
		c.evict()
		c.mu.Unlock()
		return full, c.unpinFunc(f), nil
	}
}

func (c *FileCache) unpinFunc(f *cachedFile) func(evict bool) {
	return func(evict bool) {
		c.mu.Lock()
		defer c.mu.Unlock()
		f.pins--
		if evict {
			c.evict()
		}
	}
}

// evict deletes least recently used unpinned files while over the bound.
// The caller holds c.mu.
func (c *FileCache) evict() {
	for e := c.lru.Back(); e != nil && c.size > c.max; {
		prev := e.Prev()
		f := e.Value.(*cachedFile)
		// Never the most recent file: LocalPath just returned it unpinned.
		if f.pins == 0 && e != c.lru.Front() {
			if err := os.Remove(filepath.Join(c.dir, f.name)); err == nil || errors.Is(err, os.ErrNotExist) {
				c.lru.Remove(e)
				delete(c.files, f.name)
				c.size -= f.size
			}
		}
		e = prev
	}
}

// fetch downloads key to path through a temp file.
func (c *FileCache) fetch(ctx context.Context, key string, size int64, dst string) (err error) {
	rc, err := c.b.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("cache %s: %w", key, err)
	}
	defer rc.Close()
	f, err := os.CreateTemp(c.dir, tempPrefix+"*")
	if err != nil {
		return fmt.Errorf("cache %s: %w", key, err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	n, err := io.Copy(f, rc)
	if err != nil {
		return fmt.Errorf("cache %s: download: %w", key, err)
	}
	if n != size {
		return fmt.Errorf("cache %s: downloaded %d bytes, want %d (object changed?)", key, n, size)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("cache %s: %w", key, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("cache %s: %w", key, err)
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		return fmt.Errorf("cache %s: %w", key, err)
	}
	return nil
}

// cacheName names the cached file of key at etag: a hash of both, plus the
// key's extension (readers such as DuckDB look at it).
func cacheName(key, etag string) string {
	sum := sha256.Sum256([]byte(key + "\x00" + etag))
	ext := path.Ext(key)
	if len(ext) > 16 || strings.ContainsAny(ext, `/\`) {
		ext = ""
	}
	return hex.EncodeToString(sum[:16]) + ext
}
