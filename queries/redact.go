package queries

import (
	"context"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Redactor removes credentials from text shown to people: error messages
// and log records. It knows the secrets of a lake URI (user information,
// also in an endpoint parameter, and the values of query parameters other
// than the harmless endpoint host, region and path_style) and of the
// environment (values of variables whose names say they hold a secret:
// *SECRET*, *PASSWORD*, *TOKEN*, *ACCESS_KEY*, *CREDENTIAL*, *PRIVATE*,
// *SESSION*), and replaces every occurrence with "[REDACTED]".
type Redactor struct {
	secrets []string // longest first
}

// minSecret is the shortest value treated as a secret: shorter ones would
// redact ordinary words and numbers.
const minSecret = 4

var secretEnv = regexp.MustCompile(`(?i)SECRET|PASSWORD|PASSWD|TOKEN|ACCESS_KEY|CREDENTIAL|PRIVATE|SESSION|API_KEY`)

// NewRedactor returns a Redactor for the lake URI uri and the environment
// environ ("NAME=value" entries, as os.Environ returns).
func NewRedactor(uri string, environ []string) *Redactor {
	r := &Redactor{}
	r.addURI(uri)
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if ok && secretEnv.MatchString(name) && !strings.HasPrefix(name, "XDG_") && !strings.HasPrefix(name, "DBUS_") {
			r.add(value)
		}
	}
	slices.SortFunc(r.secrets, func(a, b string) int { return len(b) - len(a) })
	r.secrets = slices.Compact(r.secrets)
	return r
}

func (r *Redactor) add(s string) {
	if len(s) >= minSecret {
		r.secrets = append(r.secrets, s)
		if e := url.QueryEscape(s); e != s {
			r.secrets = append(r.secrets, e)
		}
		if e := url.PathEscape(s); e != s {
			r.secrets = append(r.secrets, e)
		}
	}
}

func (r *Redactor) addURI(uri string) {
	u, err := url.Parse(uri)
	if err != nil {
		// Unparsable: everything after "?" and any user information may
		// be secret.
		if _, q, ok := strings.Cut(uri, "?"); ok {
			for _, kv := range strings.Split(q, "&") {
				_, v, _ := strings.Cut(kv, "=")
				r.add(v)
			}
		}
		r.addUserText(uri)
		return
	}
	r.addUser(u.User)
	for k, vs := range u.Query() {
		for _, v := range vs {
			switch k {
			case "region", "path_style":
			case "endpoint":
				r.addUserText(v)
				if e, err := url.Parse(v); err == nil {
					r.addUser(e.User)
				}
			default:
				r.add(v)
			}
		}
	}
}

// addUserText adds the user information of a URL found by text: between
// "://" and the last "@" (a password may hold "/" once decoded, which
// url.Parse would take for the start of the path).
func (r *Redactor) addUserText(raw string) {
	i := strings.Index(raw, "://")
	at := strings.LastIndex(raw, "@")
	if i < 0 || at <= i+3 {
		return
	}
	user := raw[i+3 : at]
	name, pw, ok := strings.Cut(user, ":")
	r.add(name)
	if ok {
		r.add(pw)
		if dec, err := url.PathUnescape(pw); err == nil {
			r.add(dec)
		}
	}
}

func (r *Redactor) addUser(u *url.Userinfo) {
	if u == nil {
		return
	}
	r.add(u.Username())
	if pw, ok := u.Password(); ok {
		r.add(pw)
	}
}

// Redacted is the replacement of a secret.
const Redacted = "[REDACTED]"

// String returns s with every secret replaced.
func (r *Redactor) String(s string) string {
	if r == nil {
		return s
	}
	for _, sec := range r.secrets {
		if strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, Redacted)
		}
	}
	return s
}

// Error returns err with its message redacted (nil for nil). errors.Is and
// errors.As still see the original chain; its Error text is never shown.
func (r *Redactor) Error(err error) error {
	if err == nil {
		return nil
	}
	msg := r.String(err.Error())
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// Handler returns a slog.Handler that redacts messages and string (and
// error and Stringer) attributes before passing records to h.
func (r *Redactor) Handler(h slog.Handler) slog.Handler {
	return &redactHandler{r: r, h: h}
}

type redactHandler struct {
	r *Redactor
	h slog.Handler
}

func (h *redactHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h *redactHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.String(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.h.Handle(ctx, out)
}

func (h *redactHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.r.String(v.String()))
	case slog.KindGroup:
		as := v.Group()
		out := make([]any, len(as))
		for i, g := range as {
			out[i] = h.attr(g)
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, h.r.String(x.Error()))
		default:
			return slog.String(a.Key, h.r.String(v.String()))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func (h *redactHandler) WithAttrs(as []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = h.attr(a)
	}
	return &redactHandler{r: h.r, h: h.h.WithAttrs(out)}
}

func (h *redactHandler) WithGroup(name string) slog.Handler {
	return &redactHandler{r: h.r, h: h.h.WithGroup(name)}
}
