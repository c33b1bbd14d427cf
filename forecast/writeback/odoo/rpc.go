package odoo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shelflake/shelflake/forecast/writeback"
)

// callError is a failed call: Transient ones are worth another try (the
// connection broke, a timeout, 429, 5xx); the others are Odoo refusing the
// call for good (a validation error, an unknown field, access denied).
type callError struct {
	Model, Method string
	Code          int // HTTP status, 0 when none came
	Name, Message string
	Transient     bool
	// Auth: the API key was refused.
	Auth       bool
	RetryAfter time.Duration
	Err        error
}

func (e *callError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "odoo %s.%s: ", e.Model, e.Method)
	if e.Code != 0 {
		fmt.Fprintf(&b, "http %d ", e.Code)
	}
	if e.Name != "" {
		b.WriteString(e.Name + ": ")
	}
	b.WriteString(e.Message)
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	return strings.TrimSpace(b.String())
}

func (e *callError) Unwrap() error { return e.Err }

// caller makes one ORM call: model.method on ids with named parameters.
type caller interface {
	call(ctx context.Context, model, method string, ids []int64, params map[string]any, out any) error
}

// apiKey holds the key, re-read from its file after Odoo refuses it (a
// rotated key is picked up without a restart).
type apiKey struct {
	mu   sync.Mutex
	key  string
	file string
}

func (k *apiKey) get() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.key
}

// reload re-reads the key file; it reports whether the key changed.
func (k *apiKey) reload(old string) bool {
	if k.file == "" {
		return false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.key != old {
		return true // another goroutine reloaded already
	}
	b, err := os.ReadFile(k.file)
	if err != nil {
		return false
	}
	k.key = strings.TrimSpace(string(b))
	return k.key != old
}

const maxBody = 4 << 20

// json2 calls POST /json/2/<model>/<method> (Odoo 19 and later).
type json2 struct {
	base   string
	db     string
	key    *apiKey
	client *http.Client
}

func (j *json2) call(ctx context.Context, model, method string, ids []int64, params map[string]any, out any) error {
	body := map[string]any{}
	for k, v := range params {
		body[k] = v
	}
	if ids != nil {
		body["ids"] = ids
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return &callError{Model: model, Method: method, Err: err}
	}
	for reauth := false; ; reauth = true {
		key := j.key.get()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.base+"/json/2/"+model+"/"+method, bytes.NewReader(raw))
		if err != nil {
			return &callError{Model: model, Method: method, Err: err}
		}
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		req.Header.Set("Authorization", "bearer "+key)
		req.Header.Set("User-Agent", "shelflake")
		if j.db != "" {
			req.Header.Set("X-Odoo-Database", j.db)
		}
		resp, err := j.client.Do(req)
		if err != nil {
			return &callError{Model: model, Method: method, Transient: true, Err: err}
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		resp.Body.Close()
		if err != nil {
			return &callError{Model: model, Method: method, Code: resp.StatusCode, Transient: true, Err: err}
		}
		if resp.StatusCode/100 == 2 {
			if err := json.Unmarshal(b, out); err != nil {
				return &callError{Model: model, Method: method, Code: resp.StatusCode, Message: "unreadable answer: ", Err: err}
			}
			return nil
		}
		var oe struct{ Name, Message string }
		_ = json.Unmarshal(b, &oe)
		if oe.Message == "" {
			oe.Message = excerpt(string(b))
		}
		ce := &callError{Model: model, Method: method, Code: resp.StatusCode, Name: oe.Name, Message: oe.Message,
			Transient: writeback.Retryable(resp.StatusCode), Auth: resp.StatusCode == http.StatusUnauthorized}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			ce.RetryAfter = writeback.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		}
		if ce.Auth && !reauth && j.key.reload(key) {
			continue
		}
		return ce
	}
}

// jsonRPC calls execute_kw over POST /jsonrpc (Odoo 17 and 18; deprecated
// in 19). The user id comes from common.login with the login and API key.
type jsonRPC struct {
	base   string
	db     string
	login  string
	key    *apiKey
	client *http.Client
	id     atomic.Int64
	mu     sync.Mutex
	uid    int64
}

type rpcRequest struct {
	JSONRPC string    `json:"jsonrpc"`
	Method  string    `json:"method"`
	Params  rpcParams `json:"params"`
	ID      int64     `json:"id"`
}

type rpcParams struct {
	Service string `json:"service"`
	Method  string `json:"method"`
	Args    []any  `json:"args"`
}

func (j *jsonRPC) post(ctx context.Context, model, method string, p rpcParams, out any) error {
	raw, err := json.Marshal(rpcRequest{JSONRPC: "2.0", Method: "call", Params: p, ID: j.id.Add(1)})
	if err != nil {
		return &callError{Model: model, Method: method, Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.base+"/jsonrpc", bytes.NewReader(raw))
	if err != nil {
		return &callError{Model: model, Method: method, Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "shelflake")
	resp, err := j.client.Do(req)
	if err != nil {
		return &callError{Model: model, Method: method, Transient: true, Err: err}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	if err != nil {
		return &callError{Model: model, Method: method, Code: resp.StatusCode, Transient: true, Err: err}
	}
	if resp.StatusCode/100 != 2 {
		ce := &callError{Model: model, Method: method, Code: resp.StatusCode, Message: excerpt(string(b)), Transient: writeback.Retryable(resp.StatusCode)}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			ce.RetryAfter = writeback.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		}
		return ce
	}
	var r struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Data    struct {
				Name    string `json:"name"`
				Message string `json:"message"`
			} `json:"data"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return &callError{Model: model, Method: method, Code: resp.StatusCode, Message: "unreadable answer: ", Err: err}
	}
	if r.Error != nil {
		name := r.Error.Data.Name
		ce := &callError{Model: model, Method: method, Name: name, Message: r.Error.Data.Message,
			Auth: strings.HasSuffix(name, "AccessDenied") || strings.HasSuffix(name, "SessionExpiredException"),
			// A concurrent update rolled back: Odoo itself retries these.
			Transient: strings.Contains(name, "psycopg2") || strings.Contains(name, "Serialization")}
		if ce.Message == "" {
			ce.Message = r.Error.Message
		}
		return ce
	}
	if err := json.Unmarshal(r.Result, out); err != nil {
		return &callError{Model: model, Method: method, Message: "unreadable answer: ", Err: err}
	}
	return nil
}

func (j *jsonRPC) user(ctx context.Context, key string) (int64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.uid != 0 {
		return j.uid, nil
	}
	var uid any
	if err := j.post(ctx, "common", "login", rpcParams{Service: "common", Method: "login", Args: []any{j.db, j.login, key}}, &uid); err != nil {
		return 0, err
	}
	n, ok := uid.(float64)
	if !ok || n <= 0 {
		return 0, &callError{Model: "common", Method: "login", Auth: true, Message: fmt.Sprintf("login %q refused with this API key on database %q", j.login, j.db)}
	}
	j.uid = int64(n)
	return j.uid, nil
}

func (j *jsonRPC) call(ctx context.Context, model, method string, ids []int64, params map[string]any, out any) error {
	for reauth := false; ; reauth = true {
		key := j.key.get()
		uid, err := j.user(ctx, key)
		if err == nil {
			args := []any{}
			if ids != nil {
				args = append(args, ids)
			}
			kw := params
			if kw == nil {
				kw = map[string]any{}
			}
			err = j.post(ctx, model, method, rpcParams{Service: "object", Method: "execute_kw",
				Args: []any{j.db, uid, key, model, method, args, kw}}, out)
		}
		var ce *callError
		if errors.As(err, &ce) && ce.Auth && !reauth && j.key.reload(key) {
			j.mu.Lock()
			j.uid = 0
			j.mu.Unlock()
			continue
		}
		return err
	}
}

// excerpt cuts s to 512 bytes.
func excerpt(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 512 {
		return s[:512] + "…"
	}
	return s
}
