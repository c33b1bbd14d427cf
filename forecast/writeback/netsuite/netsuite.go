// Package netsuite writes suggested purchase orders into NetSuite over
// SuiteTalk REST web services and reads back what planners did with them.
//
// # Contract
//
// Channel is a writeback.Channel and a writeback.OutcomeReader. Each
// document becomes one purchaseOrder record whose externalId is our key
// (Document.ExternalRef), written by upsert: PUT
// /services/rest/record/v1/purchaseOrder/eid:<key>, which creates the
// record or finds the one that has the key — NetSuite's own idempotency.
// Because an upsert of an existing record would add our lines to it again
// (sublists merge), each attempt first GETs eid:<key>: a record found is the
// document, accepted without a write, whatever a lost answer or a crash
// left behind. The order carries entity (vendor), subsidiary, location,
// currency, tranDate, dueDate, memo (our explanation), approvalStatus
// Pending Approval, and one item line per SKU (item, quantity, rate,
// expectedReceiptDate).
//
// Authentication is OAuth 2.0 client credentials with a JWT assertion
// (RFC 7523) signed by the private key of the certificate mapped in
// NetSuite: PS256 for an RSA key, ES256 for a P-256 key; kid is the
// certificate id, iss the client id, aud the token endpoint. The access
// token (60 minutes) is kept and fetched again when it expires or a request
// gets 401.
//
// Ids come from Config: items by SKU, vendors by supplier, locations,
// currencies; a SKU, supplier, location or currency missing from the maps
// rejects the document (permanent, reason logged) without a request.
// NetSuite's concurrency limit answers 429: retried with backoff (and
// Retry-After when sent), as are 5xx, timeouts and broken connections. An
// account that cannot be connected to at all before it ever answered fails
// every document at once (writeback.UnreachableError).
package netsuite

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/shelflake/shelflake/forecast/writeback"
	"github.com/shelflake/shelflake/schema"
)

// Config configures a Channel: the "netsuite" route's JSON in a write-back
// config file.
type Config struct {
	// Name tells apart several accounts: the channel is "netsuite:<Name>"
	// (default: AccountID).
	Name string `json:"name,omitempty"`
	// AccountID is the NetSuite account (1234567, 1234567_SB1).
	AccountID string `json:"account_id"`
	// BaseURL overrides https://<account>.suitetalk.api.netsuite.com.
	BaseURL string `json:"base_url,omitempty"`
	// ClientID is the integration record's client id; CertificateID the id
	// NetSuite gave the certificate mapping (the JWT kid).
	ClientID      string `json:"client_id"`
	CertificateID string `json:"certificate_id"`
	// PrivateKeyFile is the PEM private key of the mapped certificate (RSA:
	// PS256, P-256: ES256).
	PrivateKeyFile string `json:"private_key_file"`
	// Scope defaults to ["rest_webservices"].
	Scope []string `json:"scope,omitempty"`
	// Subsidiary is the subsidiary internal id of the orders.
	Subsidiary string `json:"subsidiary"`
	// Items maps SKU → item internal id; Vendors supplier → vendor internal
	// id; Locations location → location internal id; Currencies ISO code →
	// currency internal id (documents in a currency not here go without
	// one: the vendor's currency).
	Items      map[string]string `json:"items"`
	Vendors    map[string]string `json:"vendors"`
	Locations  map[string]string `json:"locations,omitempty"`
	Currencies map[string]string `json:"currencies,omitempty"`
	// Timeout bounds one request ("30s"); MaxAttempts the tries of one
	// document (8); Concurrency the documents in flight (2: NetSuite's
	// account concurrency limit is shared with every other integration).
	Timeout     string `json:"timeout,omitempty"`
	MaxAttempts int    `json:"max_attempts,omitempty"`
	Concurrency int    `json:"concurrency,omitempty"`
}

// Options are what a program adds to a Config.
type Options struct {
	// Transport carries the requests. Default: a clone of
	// http.DefaultTransport.
	Transport http.RoundTripper
	// Retry overrides the retry schedule (Config.MaxAttempts wins).
	Retry writeback.RetryPolicy
	// Now is the clock of the JWT claims. Default time.Now.
	Now func() time.Time
}

// Channel writes documents into one NetSuite account.
type Channel struct {
	cfg    Config
	name   string
	base   string
	client *http.Client
	tokens *tokenSource
	retry  writeback.RetryPolicy
	conc   int
	tmo    time.Duration
	skus   map[string]string // item id → SKU
	reach  *writeback.Reachability

	mu sync.Mutex
}

// ParseConfig decodes a Config, refusing unknown fields.
func ParseConfig(raw []byte) (Config, error) {
	var c Config
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("netsuite config: %w", err)
	}
	return c, nil
}

// New returns the channel of cfg.
func New(cfg Config, o Options) (*Channel, error) {
	var missing []string
	for _, f := range []struct{ name, v string }{{"account_id", cfg.AccountID}, {"client_id", cfg.ClientID},
		{"certificate_id", cfg.CertificateID}, {"private_key_file", cfg.PrivateKeyFile}, {"subsidiary", cfg.Subsidiary}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("netsuite: %s required", strings.Join(missing, ", "))
	}
	pemBytes, err := os.ReadFile(cfg.PrivateKeyFile)
	if err != nil {
		return nil, fmt.Errorf("netsuite: private_key_file: %w", err)
	}
	key, err := ParsePrivateKey(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("netsuite: private_key_file %s: %w", cfg.PrivateKeyFile, err)
	}
	base := cfg.BaseURL
	if base == "" {
		base = "https://" + strings.ToLower(strings.ReplaceAll(cfg.AccountID, "_", "-")) + ".suitetalk.api.netsuite.com"
	}
	if err := writeback.CheckHTTPURL("base_url", base); err != nil {
		return nil, fmt.Errorf("netsuite: %w", err)
	}
	base = strings.TrimRight(base, "/")
	reach := &writeback.Reachability{URL: base}
	client := reach.Client(o.Transport)
	scope := cfg.Scope
	if len(scope) == 0 {
		scope = []string{"rest_webservices"}
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	c := &Channel{cfg: cfg, base: base, client: client, skus: map[string]string{}, reach: reach,
		tokens: &tokenSource{url: base + "/services/rest/auth/oauth2/v1/token", clientID: cfg.ClientID, kid: cfg.CertificateID,
			scope: scope, key: key, client: client, now: now}}
	if _, err := SignJWT(key, cfg.CertificateID, map[string]any{}); err != nil {
		return nil, fmt.Errorf("netsuite: private_key_file %s: %w", cfg.PrivateKeyFile, err)
	}
	c.name = "netsuite:" + cfg.Name
	if cfg.Name == "" {
		c.name = "netsuite:" + cfg.AccountID
	}
	c.retry = o.Retry
	if cfg.MaxAttempts > 0 {
		c.retry.MaxAttempts = cfg.MaxAttempts
	}
	c.retry = c.retry.WithDefaults()
	c.conc = cfg.Concurrency
	if c.conc <= 0 {
		c.conc = 2
	}
	c.tmo = 30 * time.Second
	if cfg.Timeout != "" {
		if c.tmo, err = time.ParseDuration(cfg.Timeout); err != nil || c.tmo <= 0 {
			return nil, fmt.Errorf("netsuite: timeout %q: want a duration like 30s", cfg.Timeout)
		}
	}
	for sku, id := range cfg.Items {
		c.skus[id] = sku
	}
	return c, nil
}

// Name implements writeback.Channel: "netsuite:<name>".
func (c *Channel) Name() string { return c.name }

// Send implements writeback.Channel.
func (c *Channel) Send(ctx context.Context, docs []writeback.Outgoing) []writeback.Result {
	res := make([]writeback.Result, len(docs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(c.conc, len(docs)) {
		wg.Go(func() {
			for i := range next {
				res[i] = c.send(ctx, docs[i].Doc)
			}
		})
	}
	for i := range docs {
		next <- i
	}
	close(next)
	wg.Wait()
	return res
}

// mappingError: a document NetSuite cannot take until an id is mapped.
type mappingError struct{ msg string }

func (e *mappingError) Error() string { return e.msg }

// apiError is a failed request.
type apiError struct {
	Method, Path string
	Code         int
	Detail       string
	Transient    bool
	RetryAfter   time.Duration
	Err          error
}

func (e *apiError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("netsuite %s %s: %v", e.Method, e.Path, e.Err)
	}
	return fmt.Sprintf("netsuite %s %s: http %d: %s", e.Method, e.Path, e.Code, e.Detail)
}

func (e *apiError) Unwrap() error { return e.Err }

func (c *Channel) send(ctx context.Context, d *writeback.Document) writeback.Result {
	r := writeback.Result{First: time.Now()}
	body, err := c.record(d)
	if err != nil {
		r.Attempts, r.Last, r.Status, r.Err = 1, time.Now(), schema.WritebackRejected, err
		return r
	}
	for n := 1; ; n++ {
		if down := c.reach.Down(); down != nil {
			r.Last, r.Status, r.Err = time.Now(), schema.WritebackFailed, down
			return r
		}
		r.Attempts = n
		id, created, err := c.attempt(ctx, d.ExternalRef, body)
		r.Last = time.Now()
		if down := c.reach.Check(err); down != nil {
			r.Status, r.Err = schema.WritebackFailed, down
			return r
		}
		if err == nil {
			verb := "found"
			if created {
				verb = "created"
			}
			r.Status, r.Err, r.Code = schema.WritebackAccepted, nil, http.StatusOK
			r.Response = fmt.Sprintf("purchaseOrder %s %s", id, verb)
			return r
		}
		r.Err = err
		var ae *apiError
		var te *tokenError
		retryAfter := time.Duration(0)
		switch {
		case errors.As(err, &te):
			r.Code = te.Code
			if !te.Transient {
				// Credentials refused: not the document's fault; it stays
				// for writeback retry once the mapping is fixed.
				r.Status = schema.WritebackFailed
				return r
			}
		case errors.As(err, &ae):
			r.Code = ae.Code
			if ae.Code == http.StatusUnauthorized || ae.Code == http.StatusForbidden {
				// A fresh token refused too: the role lost a permission.
				r.Status = schema.WritebackFailed
				return r
			}
			if !ae.Transient {
				r.Status = schema.WritebackRejected
				return r
			}
			retryAfter = ae.RetryAfter
		}
		if ctx.Err() != nil || n >= c.retry.MaxAttempts {
			r.Status = schema.WritebackFailed
			if ctx.Err() != nil {
				r.Err = errors.Join(err, ctx.Err())
			}
			return r
		}
		if err := c.retry.Sleep(ctx, c.retry.Wait(n, retryAfter)); err != nil {
			r.Status, r.Err = schema.WritebackFailed, errors.Join(r.Err, err)
			return r
		}
	}
}

// recordPath is the path of a purchase order by our key.
func recordPath(key string) string {
	return "/services/rest/record/v1/purchaseOrder/eid:" + url.PathEscape(key)
}

// attempt looks the record up by external id and upserts it when absent.
func (c *Channel) attempt(ctx context.Context, key string, body []byte) (string, bool, error) {
	var rec struct {
		ID string `json:"id"`
	}
	code, _, err := c.do(ctx, http.MethodGet, recordPath(key), nil, &rec)
	if err == nil {
		return rec.ID, false, nil
	}
	if code != http.StatusNotFound {
		return "", false, err
	}
	_, h, err := c.do(ctx, http.MethodPut, recordPath(key), body, nil)
	if err != nil {
		return "", false, err
	}
	loc := h.Get("Location")
	return loc[strings.LastIndex(loc, "/")+1:], true, nil
}

// do makes one request with the current token (fetching another once on
// 401) and decodes a 2xx JSON answer into out.
func (c *Channel) do(ctx context.Context, method, path string, body []byte, out any) (int, http.Header, error) {
	ctx, cancel := context.WithTimeout(ctx, c.tmo)
	defer cancel()
	for reauth := false; ; reauth = true {
		tok, err := c.tokens.token(ctx)
		if err != nil {
			return 0, nil, err
		}
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
		if err != nil {
			return 0, nil, &apiError{Method: method, Path: path, Err: err}
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept", "application/json")
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.client.Do(req)
		if err != nil {
			return 0, nil, &apiError{Method: method, Path: path, Transient: true, Err: err}
		}
		b, rerr := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized && !reauth {
			c.tokens.invalidate(tok)
			continue
		}
		if resp.StatusCode/100 == 2 {
			if out != nil {
				if rerr != nil {
					return resp.StatusCode, resp.Header, &apiError{Method: method, Path: path, Code: resp.StatusCode, Transient: true, Err: rerr}
				}
				if err := json.Unmarshal(b, out); err != nil {
					return resp.StatusCode, resp.Header, &apiError{Method: method, Path: path, Code: resp.StatusCode, Err: fmt.Errorf("unreadable answer: %w", err)}
				}
			}
			return resp.StatusCode, resp.Header, nil
		}
		ae := &apiError{Method: method, Path: path, Code: resp.StatusCode, Detail: errorDetail(b),
			Transient: writeback.Retryable(resp.StatusCode)}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			ae.RetryAfter = writeback.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		}
		return resp.StatusCode, resp.Header, ae
	}
}

// errorDetail reads NetSuite's error body (title, o:errorDetails).
func errorDetail(b []byte) string {
	var e struct {
		Title   string `json:"title"`
		Details []struct {
			Detail string `json:"detail"`
			Code   string `json:"o:errorCode"`
			Path   string `json:"o:errorPath"`
		} `json:"o:errorDetails"`
	}
	if json.Unmarshal(b, &e) != nil || (e.Title == "" && len(e.Details) == 0) {
		return excerpt(string(b))
	}
	parts := []string{e.Title}
	for _, d := range e.Details {
		p := d.Code + ": " + d.Detail
		if d.Path != "" {
			p += " (at " + d.Path + ")"
		}
		parts = append(parts, p)
	}
	return excerpt(strings.Join(parts, "; "))
}

type ref struct {
	ID string `json:"id"`
}

type itemLine struct {
	Item                ref     `json:"item"`
	Quantity            int64   `json:"quantity"`
	Rate                float64 `json:"rate"`
	ExpectedReceiptDate string  `json:"expectedReceiptDate"`
	Description         string  `json:"description,omitempty"`
}

type purchaseOrder struct {
	Entity         ref    `json:"entity"`
	Subsidiary     ref    `json:"subsidiary"`
	Location       *ref   `json:"location,omitempty"`
	Currency       *ref   `json:"currency,omitempty"`
	ApprovalStatus ref    `json:"approvalStatus"`
	TranDate       string `json:"tranDate"`
	DueDate        string `json:"dueDate"`
	Memo           string `json:"memo"`
	Item           struct {
		Items []itemLine `json:"items"`
	} `json:"item"`
}

// approvalPending is the approvalStatus id of Pending Approval.
const approvalPending = "1"

// record maps d to a purchaseOrder body, or a mapping error.
func (c *Channel) record(d *writeback.Document) ([]byte, error) {
	var errs []string
	po := purchaseOrder{Subsidiary: ref{c.cfg.Subsidiary}, ApprovalStatus: ref{approvalPending},
		TranDate: d.AsOf.String(), DueDate: d.NeedByDate.String(), Memo: memo(d)}
	if v, ok := c.cfg.Vendors[d.SupplierID]; ok {
		po.Entity = ref{v}
	} else {
		errs = append(errs, fmt.Sprintf("supplier %s has no vendor in vendors", d.SupplierID))
	}
	if c.cfg.Locations != nil {
		if v, ok := c.cfg.Locations[d.LocationID]; ok {
			po.Location = &ref{v}
		} else {
			errs = append(errs, fmt.Sprintf("location %s has no location in locations", d.LocationID))
		}
	}
	if v, ok := c.cfg.Currencies[d.Currency]; ok {
		po.Currency = &ref{v}
	} else if c.cfg.Currencies != nil {
		errs = append(errs, fmt.Sprintf("currency %s has no currency in currencies", d.Currency))
	}
	var unknown []string
	for _, l := range d.Lines {
		id, ok := c.cfg.Items[l.SKU]
		if !ok {
			unknown = append(unknown, l.SKU)
			continue
		}
		po.Item.Items = append(po.Item.Items, itemLine{Item: ref{id}, Quantity: l.Qty, Rate: float64(l.UnitCost) / 1e4,
			ExpectedReceiptDate: l.NeedByDate.String()})
	}
	if len(unknown) > 0 {
		errs = append(errs, fmt.Sprintf("sku %s has no item in items", strings.Join(unknown, ", ")))
	}
	if len(errs) > 0 {
		return nil, &mappingError{"netsuite: " + strings.Join(errs, "; ") + " (map it in the netsuite route's config)"}
	}
	return json.Marshal(po)
}

// memo is our explanation, within NetSuite's 999 characters of memo.
func memo(d *writeback.Document) string {
	var b strings.Builder
	fmt.Fprintf(&b, "shelflake %s as of %s, location %s.", d.ExternalRef, d.AsOf, d.LocationID)
	for _, l := range d.Lines {
		e := l.Explanation
		fmt.Fprintf(&b, " %s %d: %s fc %.1f ss %.1f rop %.1f out %.1f pos %d.", l.SKU, l.Qty, e.Model, e.ForecastWindow, e.SafetyStock,
			e.ReorderPoint, e.OrderUpTo, e.InventoryPosition)
	}
	s := b.String()
	if r := []rune(s); len(r) > 999 {
		s = string(r[:998]) + "…"
	}
	return s
}
