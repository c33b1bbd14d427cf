// Package pgwire serves the live lake read-only over the PostgreSQL wire
// protocol (v3), so that BI tools, psql, JDBC and Python clients query the
// same views as `shelflake sql`.
//
// # Contract
//
//   - What a client reads: one view per lake table over its Delta snapshot
//     (package queries), plus _tables and _commits, restricted by the login's
//     role. Every statement runs against one snapshot from its first row to
//     its last; a transaction (BEGIN … COMMIT) keeps one snapshot for all its
//     statements. New lake versions are picked up every Options.Refresh, for
//     statements that start afterwards. SET shelflake.as_of = '<RFC 3339 or
//     date>' or SET shelflake.version = N reads the lake as it was, for the
//     rest of the session (RESET shelflake.as_of returns to the latest).
//   - Read-only, by allow-list: a statement is a query or one of the session
//     statements the server answers itself (SET/RESET of Postgres session
//     parameters and shelflake.*, SHOW, BEGIN [READ ONLY], COMMIT, ROLLBACK,
//     DISCARD ALL, DEALLOCATE, COPY … TO STDOUT in text or CSV, DECLARE …
//     CURSOR [WITH HOLD] FOR, FETCH, CLOSE; through the extended protocol
//     too, with DECLARE's parameters and FETCH's result formats; SAVEPOINT,
//     RELEASE, ROLLBACK TO, which mark where a failed transaction resumes).
//     A query is parsed by DuckDB (json_serialize_sql, which only accepts SELECT
//     statements) and walked: every table it names must be one of the
//     role's views, a CTE of the query, or a pg_catalog / information_schema
//     table; every table function must be on a short list (range,
//     generate_series, unnest) and no function may read the environment,
//     settings or files. Anything else — writes, DDL, COPY FROM or to files,
//     ATTACH, INSTALL/LOAD, PRAGMA, CALL, SET of DuckDB settings,
//     read_parquet/read_csv/glob/query_table, duckdb_*(), pg_settings, file
//     replacement scans — is refused with SQLSTATE 25006
//     (read_only_sql_transaction) or 42501 (insufficient_privilege), before
//     DuckDB runs it. Underneath, each DuckDB database has external access
//     off except the lake's and its own directories, and its configuration
//     locked (lock_configuration) once set up.
//     The guard's verdict on an allowed statement is kept per snapshot,
//     role and statement text, so the same query from many sessions is
//     parsed once (a refused one is checked every time); a statement
//     prepared with Parse is prepared in DuckDB once, and Execute runs that
//     prepared statement.
//   - Roles: a role's views live in a schema of its own (role_<name>), each
//     selecting only the columns the role may see; a connection's search
//     path is that schema. A hidden column does not exist for the role
//     (42703); a table of another role is 42501. The catalog tables and
//     views clients read to list and describe tables (pg_class,
//     pg_attribute, pg_type, pg_index, pg_constraint, pg_description, …,
//     information_schema.tables and columns; those DuckDB lacks, like
//     pg_policy or pg_inherits, empty) list only the role's tables and
//     columns, with Postgres type oids and names (format_type, udt_name);
//     clients' Postgres-only syntax in them (::regclass, OPERATOR(…),
//     = ANY(column), format('%I'), json_build_object) is rewritten first.
//   - Logins: SCRAM-SHA-256 only (Config: users with hashed secrets, never
//     passwords; HashPassword makes them). An unknown user goes through the
//     same exchange and fails the same way (28P01). Failed logins are logged
//     (user and address, never secrets) and, past Options.LoginFailures per
//     Options.LoginWindow from one address, refused without checking
//     (28000). With Options.RequireTLS a client that does not ask for TLS is
//     refused (28000); TLS 1.3 is the minimum unless configured otherwise.
//   - Protocol: startup with SSLRequest (GSSENC declined), simple query
//     (several statements per message), extended query (Parse, Bind,
//     Describe, Execute with row limits and PortalSuspended, named
//     statements and portals, Close, Sync, Flush), CancelRequest, errors
//     with SQLSTATEs (DuckDB's error types mapped to Postgres classes),
//     ReadyForQuery with the transaction status (I, T, E). Results are
//     written in text or binary per column as the client asks: numeric
//     (DECIMAL), date, timestamptz, timestamp, text, int2/4/8, float4/8,
//     bool, bytea; other DuckDB types are sent as text. server_version is
//     ServerVersion.
//   - Not supported: COPY FROM, COPY TO a file or program, binary COPY,
//     scrolling cursors, DECLARE … BINARY CURSOR (binary rows come from the
//     extended protocol's result formats),
//     LISTEN/NOTIFY, the replication protocol, SSL client certificates,
//     and channel binding (SCRAM-SHA-256-PLUS).
//
// The message codec is github.com/jackc/pgx/v5/pgproto3 and binary value
// encodings come from github.com/jackc/pgx/v5/pgtype: the Go reference
// implementations of the protocol's framing and Postgres' binary formats,
// which real clients are tested against, where hand-written codecs would be
// one more place for a byte to go wrong. The server (state machine,
// authentication, statement guard, roles) is this package.
package pgwire
