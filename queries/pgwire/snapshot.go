package pgwire

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/queries"
)

// snapshot is one DuckDB database over a snapshot of the lake: a
// queries.Session (one view per lake table, in schema main, which no
// client reads), a schema per role with views of what that role may read,
// and DuckDB locked down (no external access beyond the lake's files, no
// configuration changes). Queries run on connections of one snapshot from
// start to end, so each sees one consistent version of every table.
type snapshot struct {
	sess    *queries.Session
	tempDir string
	// names are the lake views (schema main), lower case.
	names map[string]bool
	// versions identifies the snapshot: table → version.
	versions map[string]int64
	// verdicts are the guard's, on the statements it allowed here.
	verdicts verdicts

	mu   sync.Mutex
	refs int
	// onLast, if set, runs after the last reference is released.
	onLast func()
}

// openSnapshot opens a session on l with opts and installs the roles'
// schemas.
// Its DuckDB spill and link directory is a new directory under tempRoot.
func openSnapshot(ctx context.Context, l *lake.Lake, opts queries.Options, roles map[string]*Role, tempRoot string, allowedDirs []string) (*snapshot, error) {
	tmp, err := os.MkdirTemp(tempRoot, "shelflake-serve-")
	if err != nil {
		return nil, fmt.Errorf("session directory: %w", err)
	}
	opts.TempDir = tmp
	sess, err := queries.Open(ctx, l, opts)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	s := &snapshot{sess: sess, tempDir: tmp, names: map[string]bool{}, versions: map[string]int64{}, refs: 1}
	allowedDirs = append(slices.Clone(allowedDirs), tmp)
	for _, t := range sess.Tables() {
		s.names[strings.ToLower(t.Name)] = true
		s.versions[t.Name] = t.Version
	}
	if err := s.install(ctx, roles, allowedDirs); err != nil {
		s.release()
		return nil, err
	}
	return s, nil
}

// install creates the role schemas and locks DuckDB down.
func (s *snapshot) install(ctx context.Context, roles map[string]*Role, allowedDirs []string) error {
	conn := s.sess.Conn()
	names := make([]string, 0, len(roles))
	for n := range roles {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		r := roles[n]
		stmts := []string{"CREATE SCHEMA " + quoteIdent(r.schema())}
		for _, t := range s.sess.Tables() {
			if !r.hasTable(strings.ToLower(t.Name)) {
				continue
			}
			var cols []string
			for _, c := range t.Columns {
				if !r.hidden(t.Name, c.Name) {
					cols = append(cols, quoteIdent(c.Name))
				}
			}
			if len(cols) == 0 {
				continue
			}
			stmts = append(stmts, fmt.Sprintf("CREATE VIEW %s.%s AS SELECT %s FROM memory.main.%s",
				quoteIdent(r.schema()), quoteIdent(t.Name), strings.Join(cols, ", "), quoteIdent(t.Name)))
		}
		stmts = append(stmts, catalogSQL(r)...)
		for _, meta := range []string{"_tables", "_commits"} {
			stmts = append(stmts, fmt.Sprintf("CREATE VIEW %s.%s AS SELECT * FROM memory.main.%s", quoteIdent(r.schema()), meta, meta))
		}
		for _, q := range stmts {
			if _, err := conn.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("role %s: %s: %w", r.Name, q, err)
			}
		}
	}
	dirs := make([]string, len(allowedDirs))
	for i, d := range allowedDirs {
		dirs[i] = quoteString(strings.TrimSuffix(d, "/") + "/")
	}
	lock := []string{
		"SET GLOBAL allowed_directories = [" + strings.Join(dirs, ", ") + "]",
		"SET GLOBAL enable_external_access = false",
		"SET GLOBAL allow_community_extensions = false",
		"SET GLOBAL lock_configuration = true",
	}
	for _, q := range lock {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("lock down duckdb: %s: %w", q, err)
		}
	}
	return nil
}

// sameVersions reports whether o reads the same versions as s.
func (s *snapshot) sameVersions(o *snapshot) bool {
	if len(s.versions) != len(o.versions) {
		return false
	}
	for k, v := range s.versions {
		if ov, ok := o.versions[k]; !ok || ov != v {
			return false
		}
	}
	return true
}

// conn returns a new DuckDB connection reading the role's schema.
func (s *snapshot) conn(ctx context.Context, r *Role) (*sql.Conn, error) {
	c, err := s.sess.DB().Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := c.ExecContext(ctx, "SET search_path = "+quoteString(r.schema())); err != nil {
		c.Close()
		return nil, fmt.Errorf("role schema: %w", err)
	}
	return c, nil
}

func (s *snapshot) acquire() {
	s.mu.Lock()
	s.refs++
	s.mu.Unlock()
}

// release drops a reference; the last one closes the session.
func (s *snapshot) release() {
	s.mu.Lock()
	s.refs--
	last := s.refs == 0
	s.mu.Unlock()
	if last {
		_ = s.sess.Close()
		_ = os.RemoveAll(s.tempDir)
		if s.onLast != nil {
			s.onLast()
		}
	}
}

// tryAcquire takes a reference unless the snapshot is already closed.
func (s *snapshot) tryAcquire() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refs == 0 {
		return false
	}
	s.refs++
	return true
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func quoteString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
