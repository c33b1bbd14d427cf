package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
)

// OpenOption adjusts how Open builds a bucket.
type OpenOption func(*openConfig)

type openConfig struct {
	s3       []func(*S3Options)
	existing bool
}

// Existing makes Open create nothing: a local directory must exist already
// (NewLocalExisting), else Open fails with an error wrapping ErrNoRoot. An
// S3 bucket is never created by Open anyway.
func Existing() OpenOption {
	return func(c *openConfig) { c.existing = true }
}

// WithS3Options lets the caller adjust the S3Options Open derives from an
// s3:// URI (credentials, retries, part size) before the bucket is built.
func WithS3Options(fn func(*S3Options)) OpenOption {
	return func(c *openConfig) { c.s3 = append(c.s3, fn) }
}

// Open returns the bucket a lake URI names:
//
//   - s3://bucket[/prefix][?endpoint=URL&path_style=true&region=R] — an S3
//     bucket (NewS3), with keys under prefix when one is given. Credentials
//     come from the SDK's default chain, never from the URI.
//   - file:///abs/path — a Local bucket rooted at /abs/path.
//   - a plain path, relative or absolute — a Local bucket rooted there.
//
// A local directory is created when missing, unless opts has Existing.
// Errors name the URI without credentials.
func Open(ctx context.Context, uri string, opts ...OpenOption) (Bucket, error) {
	var cfg openConfig
	for _, o := range opts {
		o(&cfg)
	}
	switch {
	case uri == "":
		return nil, errors.New("open bucket: empty URI")
	case strings.HasPrefix(uri, "s3://"):
		return openS3(ctx, uri, cfg)
	case strings.HasPrefix(uri, "file://"):
		u, err := url.Parse(uri)
		if err != nil {
			return nil, fmt.Errorf("open bucket %q: %w", RedactURI(uri), err)
		}
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("open bucket %q: file URI with host %q (want file:///abs/path)", RedactURI(uri), u.Host)
		}
		if u.RawQuery != "" || u.Path == "" {
			return nil, fmt.Errorf("open bucket %q: want file:///abs/path without query", RedactURI(uri))
		}
		return cfg.local(u.Path)
	case strings.Contains(uri, "://"):
		return nil, fmt.Errorf("open bucket %q: unsupported scheme (want s3://, file:// or a path)", RedactURI(uri))
	default:
		return cfg.local(uri)
	}
}

func (c openConfig) local(root string) (Bucket, error) {
	if c.existing {
		return NewLocalExisting(root)
	}
	return NewLocal(root)
}

func openS3(ctx context.Context, uri string, cfg openConfig) (Bucket, error) {
	safe := RedactURI(uri)
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("open bucket %q: %w", safe, err)
	}
	if u.User != nil {
		return nil, fmt.Errorf("open bucket %q: credentials in the URI are not supported; use the AWS environment or shared config", safe)
	}
	opts := S3Options{Bucket: u.Host}
	for k, vs := range u.Query() {
		v := vs[len(vs)-1]
		switch k {
		case "endpoint":
			opts.Endpoint = v
		case "region":
			opts.Region = v
		case "path_style":
			if opts.PathStyle, err = strconv.ParseBool(v); err != nil {
				return nil, fmt.Errorf("open bucket %q: path_style %q: want true or false", safe, v)
			}
		default:
			return nil, fmt.Errorf("open bucket %q: unknown parameter %q (want endpoint, path_style, region)", safe, k)
		}
	}
	for _, fn := range cfg.s3 {
		fn(&opts)
	}
	b, err := NewS3(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("open bucket %q: %w", safe, err)
	}
	prefix := strings.Trim(u.Path, "/")
	if prefix == "" {
		return b, nil
	}
	p, err := NewPrefixed(b, prefix)
	if err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("open bucket %q: %w", safe, err)
	}
	return p, nil
}

// RedactURI returns uri without user information, also in an endpoint query
// parameter, so that it can be logged.
func RedactURI(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return "<unparsable uri>"
	}
	u.User = nil
	if q := u.Query(); q.Has("endpoint") {
		q.Set("endpoint", redactURL(q.Get("endpoint")))
		u.RawQuery = formatQuery(q)
	}
	return u.String()
}

// LocalFiles is implemented by buckets whose objects are local files: Local,
// and the wrappers in this package around one. DuckDB and other readers
// open such files directly instead of copying them.
type LocalFiles interface {
	// LocalFile returns key's file path, and false if the bucket has no
	// local files after all (a wrapper around a remote bucket).
	LocalFile(key string) (path string, ok bool)
}

// LocalFile returns key's file path (see Path).
func (l *Local) LocalFile(key string) (string, bool) { return l.Path(key), true }

// Prefixed is a Bucket whose keys live under a prefix of another bucket:
// key "k" is "prefix/k" in the underlying bucket.
type Prefixed struct {
	b      Bucket
	prefix string // without trailing slash
}

var _ Bucket = (*Prefixed)(nil)

// NewPrefixed returns b restricted to the keys under prefix (a valid key;
// a trailing slash is ignored). Close closes b.
func NewPrefixed(b Bucket, prefix string) (*Prefixed, error) {
	prefix = strings.TrimSuffix(prefix, "/")
	if err := ValidateKey(prefix); err != nil {
		return nil, fmt.Errorf("bucket prefix: %w", err)
	}
	return &Prefixed{b: b, prefix: prefix}, nil
}

func (p *Prefixed) full(key string) string { return p.prefix + "/" + key }

// String names the underlying bucket and the prefix.
func (p *Prefixed) String() string {
	if s, ok := p.b.(*S3); ok {
		return s3URI(s.opts.Bucket, p.prefix, s.opts.Endpoint, s.opts.PathStyle)
	}
	return p.b.String() + "/" + p.prefix
}

// Close closes the underlying bucket.
func (p *Prefixed) Close() error { return p.b.Close() }

// Put writes under the prefix.
func (p *Prefixed) Put(ctx context.Context, key string, r io.Reader) error {
	if err := ValidateKey(key); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return p.b.Put(ctx, p.full(key), r)
}

// PutIfAbsent writes under the prefix.
func (p *Prefixed) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	if err := ValidateKey(key); err != nil {
		return fmt.Errorf("put-if-absent %s: %w", key, err)
	}
	return p.b.PutIfAbsent(ctx, p.full(key), data)
}

// Get reads under the prefix.
func (p *Prefixed) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := ValidateKey(key); err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	return p.b.Get(ctx, p.full(key))
}

// GetRange reads under the prefix.
func (p *Prefixed) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := ValidateKey(key); err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	return p.b.GetRange(ctx, p.full(key), offset, length)
}

// Stat returns attributes with the key relative to the prefix.
func (p *Prefixed) Stat(ctx context.Context, key string) (Attributes, error) {
	if err := ValidateKey(key); err != nil {
		return Attributes{}, fmt.Errorf("stat %s: %w", key, err)
	}
	a, err := p.b.Stat(ctx, p.full(key))
	a.Key = key
	return a, err
}

// List lists under the prefix, with keys relative to it.
func (p *Prefixed) List(ctx context.Context, prefix string, fn func(Attributes) error) error {
	if err := validatePrefix(prefix); err != nil {
		return fmt.Errorf("list in %s: %w", p, err)
	}
	return p.b.List(ctx, p.prefix+"/"+prefix, func(a Attributes) error {
		a.Key = strings.TrimPrefix(a.Key, p.prefix+"/")
		return fn(a)
	})
}

// Delete deletes under the prefix.
func (p *Prefixed) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return p.b.Delete(ctx, p.full(key))
}

// LocalFile returns the local path of key when the underlying bucket has
// local files.
func (p *Prefixed) LocalFile(key string) (string, bool) {
	if lf, ok := p.b.(LocalFiles); ok {
		return lf.LocalFile(p.full(key))
	}
	return "", false
}
