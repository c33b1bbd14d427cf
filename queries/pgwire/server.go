package pgwire

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/queries"
)

// ServerVersion is the server_version reported to clients: a PostgreSQL
// version they accept, so that drivers pick the protocol features shelflake
// speaks.
const ServerVersion = "16.4"

// Options configure a Server.
type Options struct {
	// Lake is the lake served; it stays open while the server runs.
	Lake *lake.Lake
	// Session configures the DuckDB sessions (memory limit, threads,
	// dt range, extra tables); Versions, AsOf and TempDir are ignored
	// (clients choose with SET shelflake.as_of / shelflake.version).
	Session queries.Options
	// Config holds the users and roles. Required.
	Config *Config
	// TLS, when set, is offered to clients that ask (SSLRequest).
	TLS *tls.Config
	// RequireTLS refuses clients that do not ask for TLS. Needs TLS.
	RequireTLS bool
	// AllowedDirs are the only directories DuckDB reads files from: the
	// lake's local directory or cache, and the sessions' temporary
	// directories. Required for a local lake.
	AllowedDirs []string
	// TempDir is where each snapshot's DuckDB spill directory is made;
	// default the system's temporary directory.
	TempDir string
	// Refresh is how often the server looks for new versions of the lake's
	// tables; default 10s.
	Refresh time.Duration
	// MaxConns bounds concurrent client connections; default 64.
	MaxConns int
	// LoginFailures is how many failed logins a client address may make
	// per LoginWindow before further attempts are refused without checking
	// (default 5 per minute).
	LoginFailures int
	LoginWindow   time.Duration
	// Now is the clock of the login rate limit; default time.Now.
	Now func() time.Time
	// Logger receives the server's logs. Default: discard.
	Logger *slog.Logger
	// Registerer receives the server's metrics; nil: none.
	Registerer prometheus.Registerer
}

func (o *Options) validate() error {
	var errs []error
	if o.Lake == nil {
		errs = append(errs, errors.New("no lake"))
	}
	if o.Config == nil {
		errs = append(errs, errors.New("no users and roles (Config)"))
	}
	if o.RequireTLS && o.TLS == nil {
		errs = append(errs, errors.New("TLS required but no certificate"))
	}
	if o.Refresh == 0 {
		o.Refresh = 10 * time.Second
	}
	if o.MaxConns == 0 {
		o.MaxConns = 64
	}
	if o.LoginFailures == 0 {
		o.LoginFailures = 5
	}
	if o.LoginWindow == 0 {
		o.LoginWindow = time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return errors.Join(errs...)
}

// Server serves the lake over the Postgres protocol.
type Server struct {
	opts    Options
	log     *slog.Logger
	metrics *metrics
	slots   chan struct{}

	// travelMu guards travel: the time-travel snapshots open, by what they
	// read ("as_of=…", "version=N"), shared by the sessions reading them.
	travelMu sync.Mutex
	travel   map[string]*snapshot

	mu      sync.Mutex
	latest  *snapshot
	conns   map[uint32]*conn
	nextPID uint32
	fails   map[string]*failures
}

type failures struct {
	n     int
	since time.Time
}

// New opens the latest snapshot of the lake and returns a server ready to
// Serve.
func New(ctx context.Context, opts Options) (*Server, error) {
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("pgwire: %w", err)
	}
	s := &Server{opts: opts, log: opts.Logger, metrics: newMetrics(opts.Registerer), slots: make(chan struct{}, opts.MaxConns),
		conns: map[uint32]*conn{}, fails: map[string]*failures{}, travel: map[string]*snapshot{}}
	opts.Session.Versions, opts.Session.AsOf = nil, time.Time{}
	snap, err := s.open(ctx, opts.Session)
	if err != nil {
		return nil, fmt.Errorf("pgwire: open the lake: %w", err)
	}
	s.latest = snap
	for _, r := range opts.Config.Roles {
		s.metrics.role(r.Name)
	}
	return s, nil
}

// open opens a snapshot with the server's roles and lockdown.
func (s *Server) open(ctx context.Context, opts queries.Options) (*snapshot, error) {
	if opts.Logger == nil {
		opts.Logger = s.log
	}
	return openSnapshot(ctx, s.opts.Lake, opts, s.opts.Config.Roles, s.opts.TempDir, s.opts.AllowedDirs)
}

// openTravel returns the time-travel snapshot key (opened with opts),
// shared with the other sessions reading it, with a reference the caller
// releases.
func (s *Server) openTravel(ctx context.Context, key string, opts queries.Options) (*snapshot, error) {
	s.travelMu.Lock()
	defer s.travelMu.Unlock()
	if t, ok := s.travel[key]; ok && t.tryAcquire() {
		return t, nil
	}
	t, err := s.open(ctx, opts)
	if err != nil {
		return nil, err
	}
	t.onLast = func() {
		s.travelMu.Lock()
		if s.travel[key] == t {
			delete(s.travel, key)
		}
		s.travelMu.Unlock()
	}
	s.travel[key] = t
	return t, nil
}

// current returns the latest snapshot with a reference the caller releases.
func (s *Server) current() *snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latest.acquire()
	return s.latest
}

// Refresh opens the lake's latest versions and makes them the snapshot new
// statements read, if any table changed. Statements running keep theirs.
func (s *Server) Refresh(ctx context.Context) error {
	opts := s.opts.Session
	opts.Versions, opts.AsOf = nil, time.Time{}
	snap, err := s.open(ctx, opts)
	if err != nil {
		return err
	}
	s.mu.Lock()
	old := s.latest
	if old.sameVersions(snap) {
		s.mu.Unlock()
		snap.release()
		return nil
	}
	s.latest = snap
	s.mu.Unlock()
	old.release()
	s.log.Info("serving new lake versions", "tables", len(snap.versions))
	return nil
}

// Serve accepts connections on ln until ctx ends, then closes ln and every
// connection and waits for them.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-ctx.Done()
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(s.opts.Refresh)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := s.Refresh(ctx); err != nil && ctx.Err() == nil {
					s.log.Warn("refresh: keeping the versions served", "err", err)
				}
			}
		}
	}()
	var err error
	for {
		nc, aerr := ln.Accept()
		if aerr != nil {
			if ctx.Err() == nil {
				err = fmt.Errorf("accept: %w", aerr)
			}
			break
		}
		select {
		case s.slots <- struct{}{}:
		default:
			go s.tooMany(nc)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-s.slots }()
			s.handle(ctx, nc)
		}()
	}
	cancel()
	wg.Wait()
	return err
}

// Close releases the latest snapshot. Call after Serve returns.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.latest != nil {
		s.latest.release()
		s.latest = nil
	}
	return nil
}

func (s *Server) tooMany(nc net.Conn) {
	defer nc.Close()
	be := pgproto3.NewBackend(nc, nc)
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := be.ReceiveStartupMessage(); err != nil {
		return
	}
	be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: codeTooMany, Message: "sorry, too many clients already"})
	_ = be.Flush()
}

// startupTimeout bounds the startup and authentication of a connection.
const startupTimeout = 30 * time.Second

// handle runs one connection: TLS negotiation, startup, authentication,
// then the protocol.
func (s *Server) handle(ctx context.Context, nc net.Conn) {
	defer nc.Close()
	remote := remoteHost(nc)
	_ = nc.SetDeadline(time.Now().Add(startupTimeout))
	be := pgproto3.NewBackend(nc, nc)
	tlsOn := false
	var startup *pgproto3.StartupMessage
	for startup == nil {
		msg, err := be.ReceiveStartupMessage()
		if err != nil {
			return
		}
		switch m := msg.(type) {
		case *pgproto3.SSLRequest:
			if s.opts.TLS == nil || tlsOn {
				if _, err := nc.Write([]byte{'N'}); err != nil {
					return
				}
				continue
			}
			if _, err := nc.Write([]byte{'S'}); err != nil {
				return
			}
			tc := tls.Server(nc, s.opts.TLS)
			if err := tc.HandshakeContext(ctx); err != nil {
				s.log.Info("tls handshake failed", "remote", remote, "err", err)
				return
			}
			nc, tlsOn = tc, true
			be = pgproto3.NewBackend(nc, nc)
		case *pgproto3.GSSEncRequest:
			if _, err := nc.Write([]byte{'N'}); err != nil {
				return
			}
		case *pgproto3.CancelRequest:
			if len(m.SecretKey) == 4 {
				s.cancel(m.ProcessID, binary.BigEndian.Uint32(m.SecretKey))
			}
			return
		case *pgproto3.StartupMessage:
			startup = m
		}
	}
	fatal := func(code, msg string) {
		be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: code, Message: msg})
		_ = be.Flush()
	}
	user := startup.Parameters["user"]
	if s.opts.RequireTLS && !tlsOn {
		s.log.Info("login refused: no TLS", "user", user, "remote", remote)
		s.metrics.logins.WithLabelValues("no_tls").Inc()
		fatal(codeInvalidAuth, "this server requires TLS: connect with sslmode=require")
		return
	}
	if !s.loginAllowed(remote) {
		s.log.Warn("login refused: too many failed logins", "user", user, "remote", remote)
		s.metrics.logins.WithLabelValues("rate_limited").Inc()
		fatal(codeInvalidAuth, "too many failed logins from this address; try again later")
		return
	}
	u, ok := s.opts.Config.Users[user]
	authed, answered := s.authenticate(be, u, ok)
	if !answered {
		s.log.Info("login abandoned by the client", "user", user, "remote", remote)
		return
	}
	if !authed {
		s.loginFailed(remote)
		s.log.Warn("login failed", "user", user, "remote", remote, "tls", tlsOn)
		s.metrics.logins.WithLabelValues("failed").Inc()
		fatal(codeAuthFailed, fmt.Sprintf("password authentication failed for user %q", user))
		return
	}
	s.metrics.logins.WithLabelValues("ok").Inc()
	_ = nc.SetDeadline(time.Time{})
	c := &conn{srv: s, nc: nc, be: be, enc: newEncoder(), user: user, role: s.opts.Config.Roles[u.Role]}
	c.log = s.log.With("user", user, "role", c.role.Name, "remote", remote)
	c.defaults()
	if app := startup.Parameters["application_name"]; app != "" {
		c.params["application_name"] = app
	}
	c.key = randUint32()
	s.mu.Lock()
	s.nextPID++
	c.pid = s.nextPID
	s.conns[c.pid] = c
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c.pid)
		s.mu.Unlock()
	}()
	s.metrics.sessions.Inc()
	defer s.metrics.sessions.Dec()
	c.log.Info("session started", "tls", tlsOn, "application", c.params["application_name"])
	if err := c.serve(ctx); err != nil {
		c.log.Info("session ended", "err", err)
		return
	}
	c.log.Info("session ended")
}

// authenticate runs SCRAM-SHA-256 with the client. For an unknown user it
// runs the exchange against a throwaway secret, so that the answer does not
// tell which users exist.
func (s *Server) authenticate(be *pgproto3.Backend, u *User, known bool) (ok, answered bool) {
	secret := scramSecret{}
	if known {
		secret = u.secret
	} else {
		var err error
		if secret, err = deriveSecret(randString(), []byte(randString()), scramIterations); err != nil {
			return false, false
		}
	}
	be.Send(&pgproto3.AuthenticationSASL{AuthMechanisms: []string{"SCRAM-SHA-256"}})
	if be.Flush() != nil || be.SetAuthType(pgproto3.AuthTypeSASL) != nil {
		return false, false
	}
	msg, err := be.Receive()
	if err != nil {
		return false, false // the client hung up (or sent garbage) before trying
	}
	init, isInit := msg.(*pgproto3.SASLInitialResponse)
	if !isInit || init.AuthMechanism != "SCRAM-SHA-256" {
		return false, true
	}
	sc := &scramServer{secret: secret}
	first, err := sc.first(string(init.Data))
	if err != nil {
		return false, true
	}
	be.Send(&pgproto3.AuthenticationSASLContinue{Data: []byte(first)})
	if be.Flush() != nil || be.SetAuthType(pgproto3.AuthTypeSASLContinue) != nil {
		return false, false
	}
	msg, err = be.Receive()
	if err != nil {
		return false, false
	}
	resp, isResp := msg.(*pgproto3.SASLResponse)
	if !isResp {
		return false, true
	}
	final, proved, err := sc.final(string(resp.Data))
	if err != nil || !proved || !known {
		return false, true
	}
	be.Send(&pgproto3.AuthenticationSASLFinal{Data: []byte(final)})
	return true, true
}

func (s *Server) loginAllowed(remote string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.fails[remote]
	if !ok {
		return true
	}
	if s.opts.Now().Sub(f.since) > s.opts.LoginWindow {
		delete(s.fails, remote)
		return true
	}
	return f.n < s.opts.LoginFailures
}

func (s *Server) loginFailed(remote string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	f, ok := s.fails[remote]
	if !ok || now.Sub(f.since) > s.opts.LoginWindow {
		f = &failures{since: now}
		s.fails[remote] = f
	}
	f.n++
}

// cancel cancels the running statement of the session pid if key is its
// secret.
func (s *Server) cancel(pid, key uint32) {
	s.mu.Lock()
	c, ok := s.conns[pid]
	s.mu.Unlock()
	if ok && c.key == key {
		c.cancel()
		s.metrics.cancels.Inc()
	}
}

func remoteHost(nc net.Conn) string {
	host, _, err := net.SplitHostPort(nc.RemoteAddr().String())
	if err != nil {
		return nc.RemoteAddr().String()
	}
	return host
}

func randUint32() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}

func randString() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x", b)
}
