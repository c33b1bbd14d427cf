package objstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"syscall"

	"github.com/aws/smithy-go/middleware"
)

// UnreachableError is returned by an S3 bucket's operations while its
// endpoint has never answered and a connection to it cannot be made
// (refused, no route, unknown host): a wrong endpoint or a server that is
// not running. Such an error is not retried, so a command fails at once;
// once the endpoint has answered, the same errors are retried like other
// transient faults (a server restarting).
type UnreachableError struct {
	Endpoint string // the endpoint URL, or "s3://bucket" for the SDK's default
	Err      error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach S3 endpoint %s: %s", e.Endpoint, DialCause(e.Err))
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// DialCause is the short cause of a failure to connect ("connection
// refused", "unknown host H"), or err's whole text if it is none of those.
func DialCause(err error) string {
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return "unknown host " + dns.Name
	}
	for _, c := range []syscall.Errno{syscall.ECONNREFUSED, syscall.EHOSTUNREACH, syscall.ENETUNREACH} {
		if errors.Is(err, c) {
			return c.Error()
		}
	}
	return err.Error()
}

// IsDialError reports whether err is a failure to connect at all (refused,
// no route, unknown host): the request never reached a server.
func IsDialError(err error) bool {
	var dns *net.DNSError
	if errors.As(err, &dns) && !dns.IsTimeout && !dns.IsTemporary {
		return true
	}
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH)
}

// reach remembers whether an endpoint has answered once.
type reach struct {
	endpoint string
	answered atomic.Bool
}

// RoundTrip marks the endpoint answered on any HTTP response.
type reachTransport struct {
	next http.RoundTripper
	r    *reach
}

func (t reachTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err == nil {
		t.r.answered.Store(true)
	}
	return resp, err
}

// unreachable reports whether err is a dial error before any answer.
func (r *reach) unreachable(err error) bool {
	return !r.answered.Load() && IsDialError(err)
}

// middleware turns an operation's dial error before any answer into an
// *UnreachableError (the retryer already gave up on it).
func (r *reach) middleware(st *middleware.Stack) error {
	return st.Initialize.Add(middleware.InitializeMiddlewareFunc("shelflakeUnreachable",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleInitialize(ctx, in)
			if err != nil && r.unreachable(err) {
				err = &UnreachableError{Endpoint: r.endpoint, Err: err}
			}
			return out, md, err
		}), middleware.Before)
}
