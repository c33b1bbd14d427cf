// Package bc writes suggested purchase orders into Microsoft Dynamics 365
// Business Central as draft purchase orders (API v2.0) and reads back what
// planners did with them.
//
// # Writing
//
// Each document becomes one purchase order: POST
// {base}/api/v2.0/companies({company})/purchaseOrders with the vendor number,
// order date (the document's as-of date), requested receipt date (its
// need-by date), currency and, deep-inserted, its purchaseOrderLines: first a
// Comment line whose description is the marker "shelflake <key>", then one
// Item line per SKU (item number, quantity, direct unit cost, location).
// Ids are mapped through Config: our supplier → vendor number, location →
// location id, SKU → item number. A document whose supplier, location or
// SKU has no mapping, or which the ERP refuses (an unknown item, a 4xx), is
// rejected at once with the reason and never retried.
//
// # Exactly once
//
// A v2.0 purchase order has no field for an external reference, so the
// marker line is the reference: before creating, the channel looks for the
// document with $filter=vendorNumber eq … and orderDate eq … and
// $expand=purchaseOrderLines, and a purchase order holding the marker is the
// document (accepted, not created again). This runs before every create,
// so a create whose answer was lost (timeout, dropped connection, crash)
// is found by the next attempt or the next run rather than doubled. The
// response recorded in erp_writeback_log is the purchase order's id and
// number: the ledger of which key became which document.
//
// # Limits
//
// Business Central allows 6,000 requests per 5 minutes and 100 concurrent
// requests per principal and answers 429 with Retry-After beyond. The
// channel keeps a sliding-window quota of Config.RequestsPer5Min (each operation of
// a $batch counts), sends at most Config.MaxConcurrent requests at once, and
// sends more than one operation as a JSON $batch of at most
// Config.BatchSize (≤ 100) operations. 408, 429 and 5xx are retried with
// backoff (honouring Retry-After) up to Config.MaxAttempts rounds; a 401
// fetches a new token once.
//
// # Reading back
//
// Outcomes finds each document the same way and maps the purchase order's
// status: Draft and In Review are pending; Open (released) and Released are
// accepted, or changed when a line's quantity differs, a line was removed or
// one added; a purchase order that no longer exists was rejected (deleted).
package bc

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

	"golang.org/x/oauth2/clientcredentials"

	"github.com/shelflake/shelflake/forecast/writeback"
	"github.com/shelflake/shelflake/forecast/writeback/internal/erphttp"
	"github.com/shelflake/shelflake/schema"
)

// Scope is the OAuth2 scope of the Business Central API.
const Scope = "https://api.businesscentral.dynamics.com/.default"

// Limits of the Business Central API per principal.
const (
	MaxRequestsPer5Min = 6000
	MaxConcurrent      = 100
	MaxBatch           = 100
)

// Config is one Business Central company as written in the routing config.
type Config struct {
	// BaseURL is the environment's API root without /api/v2.0:
	// https://api.businesscentral.dynamics.com/v2.0/{tenant}/{environment}.
	BaseURL string `json:"base_url"`
	// CompanyID is the company's id (a GUID).
	CompanyID string `json:"company_id"`
	// TenantID is the Entra tenant; it makes the default TokenURL.
	TenantID string `json:"tenant_id,omitempty"`
	// TokenURL overrides
	// https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token.
	TokenURL string `json:"token_url,omitempty"`
	// ClientID and ClientSecret are the app registration's client
	// credentials; ClientSecretEnv names an environment variable holding
	// the secret instead.
	ClientID        string `json:"client_id"`
	ClientSecret    string `json:"client_secret,omitempty"`
	ClientSecretEnv string `json:"client_secret_env,omitempty"`
	// Scope defaults to Scope.
	Scope string `json:"scope,omitempty"`
	// Vendors maps our supplier ids to vendor numbers.
	Vendors map[string]string `json:"vendors"`
	// Locations maps our location ids to Business Central location ids
	// (GUIDs). A location missing here is a mapping error.
	Locations map[string]string `json:"locations"`
	// Items maps our SKUs to item numbers.
	Items map[string]string `json:"items"`
	// RequestsPer5Min is the client-side quota (default and maximum 6000).
	RequestsPer5Min int `json:"requests_per_5min,omitempty"`
	// MaxConcurrent bounds the requests in flight (default 4, maximum 100).
	MaxConcurrent int `json:"max_concurrent,omitempty"`
	// BatchSize is the number of operations per $batch (default and
	// maximum 100; 1 sends every operation on its own).
	BatchSize int `json:"batch_size,omitempty"`
	// MaxAttempts bounds the rounds of tries of one document (default 8).
	MaxAttempts int `json:"max_attempts,omitempty"`
	// TimeoutSeconds bounds one request (default 30).
	TimeoutSeconds float64 `json:"timeout_seconds,omitempty"`
}

// Options are the channel's dependencies (tests replace them): Transport,
// Sleep, Now (the clock of the request quota), Jitter, the backoff bounds
// and Logger.
type Options = erphttp.Options

// Channel delivers documents to one Business Central company. It
// implements writeback.Channel and writeback.OutcomeReader.
type Channel struct {
	cfg     Config
	o       Options
	api     string
	client  *http.Client
	tokens  *writeback.TokenCache
	reach   writeback.Reachability
	quota   *erphttp.Quota
	sem     chan struct{}
	timeout time.Duration
	skuOf   map[string]string // item number → SKU
}

// New validates cfg and returns its channel.
func New(cfg Config, opts Options) (*Channel, error) {
	if cfg.ClientSecret == "" && cfg.ClientSecretEnv != "" {
		cfg.ClientSecret = os.Getenv(cfg.ClientSecretEnv)
	}
	if cfg.TokenURL == "" && cfg.TenantID != "" {
		cfg.TokenURL = "https://login.microsoftonline.com/" + url.PathEscape(cfg.TenantID) + "/oauth2/v2.0/token"
	}
	if cfg.Scope == "" {
		cfg.Scope = Scope
	}
	if cfg.RequestsPer5Min <= 0 || cfg.RequestsPer5Min > MaxRequestsPer5Min {
		cfg.RequestsPer5Min = MaxRequestsPer5Min
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = 4
	}
	cfg.MaxConcurrent = min(cfg.MaxConcurrent, MaxConcurrent)
	if cfg.BatchSize <= 0 || cfg.BatchSize > MaxBatch {
		cfg.BatchSize = MaxBatch
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 8
	}
	if cfg.TimeoutSeconds <= 0 {
		cfg.TimeoutSeconds = 30
	}
	var errs []error
	for _, u := range []struct{ name, v string }{{"base_url", cfg.BaseURL}, {"token_url (or tenant_id)", cfg.TokenURL}} {
		if err := writeback.CheckHTTPURL(u.name, u.v); err != nil {
			errs = append(errs, err)
		}
	}
	if cfg.CompanyID == "" {
		errs = append(errs, errors.New("company_id is required"))
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		errs = append(errs, errors.New("client_id and client_secret (or client_secret_env) are required"))
	}
	if len(cfg.Vendors) == 0 || len(cfg.Items) == 0 {
		errs = append(errs, errors.New("vendors and items mappings are required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("business central write-back: %w", err)
	}
	opts = opts.WithDefaults()
	c := &Channel{cfg: cfg, o: opts, api: strings.TrimRight(cfg.BaseURL, "/") + "/api/v2.0/",
		sem: make(chan struct{}, cfg.MaxConcurrent), timeout: time.Duration(cfg.TimeoutSeconds * float64(time.Second)),
		skuOf: map[string]string{}}
	c.client = c.reach.Client(opts.Transport)
	c.tokens = writeback.NewTokenCache(&clientcredentials.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
		TokenURL: cfg.TokenURL, Scopes: []string{cfg.Scope}}, c.client)
	c.quota = erphttp.NewQuota(cfg.RequestsPer5Min, 5*time.Minute, opts.Now, opts.Sleep)
	for sku, no := range cfg.Items {
		c.skuOf[no] = sku
	}
	return c, nil
}

// Name implements writeback.Channel: "bc:<company id>".
func (c *Channel) Name() string { return "bc:" + c.cfg.CompanyID }

// Marker is the description of the comment line that ties a purchase order
// to our document key.
func Marker(key string) string { return "shelflake " + key }

// PurchaseOrder is the part of a v2.0 purchaseOrder the channel writes and
// reads.
type PurchaseOrder struct {
	ID                   string `json:"id,omitempty"`
	Number               string `json:"number,omitempty"`
	VendorNumber         string `json:"vendorNumber"`
	OrderDate            string `json:"orderDate"`
	RequestedReceiptDate string `json:"requestedReceiptDate,omitempty"`
	CurrencyCode         string `json:"currencyCode,omitempty"`
	Status               string `json:"status,omitempty"`
	Lines                []Line `json:"purchaseOrderLines"`
}

// Line is the part of a v2.0 purchaseOrderLine the channel writes and reads.
type Line struct {
	Sequence         int          `json:"sequence,omitempty"`
	LineType         string       `json:"lineType"`
	LineObjectNumber string       `json:"lineObjectNumber,omitempty"`
	Description      string       `json:"description,omitempty"`
	Quantity         *json.Number `json:"quantity,omitempty"`
	DirectUnitCost   *json.Number `json:"directUnitCost,omitempty"`
	LocationID       string       `json:"locationId,omitempty"`
}

// order maps a document to its purchase order, or says what mapping is
// missing.
func (c *Channel) order(d *writeback.Document) (*PurchaseOrder, error) {
	var errs []error
	vendor, ok := c.cfg.Vendors[d.SupplierID]
	if !ok {
		errs = append(errs, fmt.Errorf("supplier %q has no vendor number in the bc config (vendors)", d.SupplierID))
	}
	loc := ""
	if len(c.cfg.Locations) > 0 {
		if loc, ok = c.cfg.Locations[d.LocationID]; !ok {
			errs = append(errs, fmt.Errorf("location %q has no location id in the bc config (locations)", d.LocationID))
		}
	}
	po := &PurchaseOrder{VendorNumber: vendor, OrderDate: d.AsOf.String(), RequestedReceiptDate: d.NeedByDate.String(),
		CurrencyCode: d.Currency, Lines: []Line{{Sequence: 10000, LineType: "Comment", Description: Marker(d.ExternalRef)}}}
	for i, l := range d.Lines {
		item, ok := c.cfg.Items[l.SKU]
		if !ok {
			errs = append(errs, fmt.Errorf("sku %q has no item number in the bc config (items)", l.SKU))
			continue
		}
		q, cost := json.Number(fmt.Sprint(l.Qty)), json.Number(l.UnitCost.String())
		po.Lines = append(po.Lines, Line{Sequence: 10000 * (i + 2), LineType: "Item", LineObjectNumber: item,
			Quantity: &q, DirectUnitCost: &cost, LocationID: loc})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("document %s: %w", d.ExternalRef, err)
	}
	return po, nil
}

// findKey groups documents looked up with one query.
type findKey struct{ vendor, date string }

func (c *Channel) company() string { return "companies(" + c.cfg.CompanyID + ")/" }

func (c *Channel) findURL(k findKey) string {
	q := url.Values{}
	q.Set("$filter", fmt.Sprintf("vendorNumber eq '%s' and orderDate eq %s", strings.ReplaceAll(k.vendor, "'", "''"), k.date))
	q.Set("$expand", "purchaseOrderLines")
	return c.company() + "purchaseOrders?" + q.Encode()
}

// find looks the documents up: found[i] is the purchase order of docs[i],
// nil when there is none; errs[i] the lookup's failure.
func (c *Channel) find(ctx context.Context, docs []*writeback.Document, pos []*PurchaseOrder) (found []*PurchaseOrder, res []opResult) {
	groups := map[findKey][]int{}
	var order []findKey
	for i, po := range pos {
		k := findKey{po.VendorNumber, po.OrderDate}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	ops := make([]op, len(order))
	for j, k := range order {
		ops[j] = op{method: http.MethodGet, url: c.findURL(k)}
	}
	out := c.run(ctx, ops)
	found, res = make([]*PurchaseOrder, len(docs)), make([]opResult, len(docs))
	for j, k := range order {
		r := out[j]
		var list struct {
			Value []PurchaseOrder `json:"value"`
		}
		if r.err == nil && r.code == http.StatusOK {
			if err := json.Unmarshal(r.body, &list); err != nil {
				r.err = fmt.Errorf("purchase orders of vendor %s on %s: %w", k.vendor, k.date, err)
			}
		}
		for _, i := range groups[k] {
			res[i] = r
			for p := range list.Value {
				if hasMarker(&list.Value[p], docs[i].ExternalRef) {
					found[i] = &list.Value[p]
				}
			}
		}
	}
	return found, res
}

func hasMarker(po *PurchaseOrder, key string) bool {
	for _, l := range po.Lines {
		if l.LineType == "Comment" && l.Description == Marker(key) {
			return true
		}
	}
	return false
}

func ledger(po *PurchaseOrder) string {
	return fmt.Sprintf(`{"id":%q,"number":%q}`, po.ID, po.Number)
}

// Send implements writeback.Channel.
func (c *Channel) Send(ctx context.Context, docs []writeback.Outgoing) []writeback.Result {
	res := make([]writeback.Result, len(docs))
	pos := make([]*PurchaseOrder, len(docs))
	var pending []int
	for i, o := range docs {
		po, err := c.order(o.Doc)
		if err != nil {
			now := time.Now()
			res[i] = writeback.Result{Status: schema.WritebackRejected, Err: err, First: now, Last: now}
			continue
		}
		pos[i] = po
		pending = append(pending, i)
	}
	for round := 1; len(pending) > 0; round++ {
		now := time.Now()
		ds, ps := make([]*writeback.Document, len(pending)), make([]*PurchaseOrder, len(pending))
		for j, i := range pending {
			ds[j], ps[j] = docs[i].Doc, pos[i]
			if res[i].First.IsZero() {
				res[i].First = now
			}
			res[i].Attempts = round
		}
		found, fres := c.find(ctx, ds, ps)
		var create []int // indexes into pending
		var wait time.Duration
		settle := func(i int, r opResult) bool {
			res[i].Last = time.Now()
			res[i].Code, res[i].Response, res[i].Err = r.code, excerpt(r.body), r.err
			switch {
			case r.err == nil && r.code/100 == 2:
				return true
			case r.err != nil && r.unreachable:
				res[i].Status = schema.WritebackFailed
				return true
			case r.err == nil && !writeback.Retryable(r.code), r.final:
				res[i].Status = schema.WritebackRejected
				if res[i].Err == nil {
					res[i].Err = fmt.Errorf("business central refused the document: http %d: %s", r.code, erphttp.ODataMessage(r.body))
				}
				return true
			}
			if res[i].Err == nil {
				res[i].Err = fmt.Errorf("business central answered http %d: %s", r.code, erphttp.ODataMessage(r.body))
			}
			wait = max(wait, r.retryAfter)
			return false
		}
		var next []int
		for j, i := range pending {
			if found[j] != nil {
				res[i].Status, res[i].Code, res[i].Response, res[i].Err, res[i].Last = schema.WritebackAccepted, http.StatusOK, ledger(found[j]), nil, time.Now()
				continue
			}
			if settle(i, fres[j]) {
				create = append(create, j)
				continue
			}
			next = append(next, i)
		}
		ops := make([]op, 0, len(create))
		var cidx []int
		for _, j := range create {
			i := pending[j]
			if res[i].Status != "" {
				continue // rejected or unreachable while looking up
			}
			ops = append(ops, op{method: http.MethodPost, url: c.company() + "purchaseOrders", body: pos[i]})
			cidx = append(cidx, i)
		}
		for k, r := range c.run(ctx, ops) {
			i := cidx[k]
			if !settle(i, r) {
				next = append(next, i)
				continue
			}
			if res[i].Status == "" {
				var po PurchaseOrder
				_ = json.Unmarshal(r.body, &po)
				res[i].Status, res[i].Response, res[i].Err = schema.WritebackAccepted, ledger(&po), nil
			}
		}
		pending = next
		if len(pending) == 0 {
			break
		}
		if ctx.Err() != nil || round >= c.cfg.MaxAttempts {
			for _, i := range pending {
				res[i].Status = schema.WritebackFailed
				if ctx.Err() != nil {
					res[i].Err = ctx.Err()
				}
			}
			break
		}
		if err := c.o.Sleep(ctx, c.o.Retry().Wait(round, wait)); err != nil {
			for _, i := range pending {
				res[i].Status, res[i].Err = schema.WritebackFailed, err
			}
			break
		}
	}
	return res
}

// excerpt keeps the first 1 KiB of a body.
func excerpt(b []byte) string {
	if len(b) > 1024 {
		b = b[:1024]
	}
	return string(b)
}

// op is one request of the OData API, relative to /api/v2.0/.
type op struct {
	method, url string
	body        any
}

// opResult is its answer.
type opResult struct {
	code       int
	body       []byte
	retryAfter time.Duration
	err        error
	// final: no use retrying (the credentials are refused, the request
	// cannot be built); unreachable: the endpoint never answered.
	final, unreachable bool
}

// run makes ops, BatchSize per request, MaxConcurrent requests at a time.
func (c *Channel) run(ctx context.Context, ops []op) []opResult {
	out := make([]opResult, len(ops))
	var wg sync.WaitGroup
	for lo := 0; lo < len(ops); lo += c.cfg.BatchSize {
		hi := min(lo+c.cfg.BatchSize, len(ops))
		select {
		case c.sem <- struct{}{}:
		case <-ctx.Done():
			for i := lo; i < len(ops); i++ {
				out[i] = opResult{err: ctx.Err()}
			}
			wg.Wait()
			return out
		}
		wg.Go(func() {
			defer func() { <-c.sem }()
			copy(out[lo:hi], c.do(ctx, ops[lo:hi]))
		})
	}
	wg.Wait()
	return out
}

// do makes ops in one request: on their own when one, else as a $batch.
// A 401 fetches a new token and tries once more.
func (c *Channel) do(ctx context.Context, ops []op) []opResult {
	for try := 0; ; try++ {
		done, err := c.quota.Take(ctx, len(ops))
		if err != nil {
			return fill(len(ops), opResult{err: err})
		}
		rs, again := c.try(ctx, ops, try == 0)
		done()
		if !again {
			return rs
		}
	}
}

// fill returns n copies of r.
func fill(n int, r opResult) []opResult {
	out := make([]opResult, n)
	for i := range out {
		out[i] = r
	}
	return out
}

// try makes one request of ops; again says a 401 dropped the token and the
// request should be made once more (only when first).
func (c *Channel) try(ctx context.Context, ops []op, first bool) (rs []opResult, again bool) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	tok, err := c.tokens.Token(ctx)
	if err != nil {
		code, refused := writeback.TokenRefused(err)
		r := opResult{code: code, err: fmt.Errorf("oauth2 token: %w", err), final: refused}
		if ue := c.reach.Unreachable(err); ue != nil {
			r.err, r.unreachable = ue, true
		}
		return fill(len(ops), r), false
	}
	var req *http.Request
	if len(ops) == 1 {
		req, err = c.request(ctx, ops[0])
	} else {
		req, err = c.batchRequest(ctx, ops)
	}
	if err != nil {
		return fill(len(ops), opResult{err: err, final: true}), false
	}
	tok.SetAuthHeader(req)
	resp, err := c.client.Do(req)
	if err != nil {
		r := opResult{err: err}
		if ue := c.reach.Unreachable(err); ue != nil {
			r.err, r.unreachable = ue, true
		}
		return fill(len(ops), r), false
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized && first {
		c.tokens.Invalidate(tok)
		return nil, true
	}
	r := opResult{code: resp.StatusCode, body: body}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		r.retryAfter = writeback.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	if rerr != nil {
		r.err = fmt.Errorf("read response: %w", rerr)
	}
	if len(ops) == 1 || r.err != nil || resp.StatusCode != http.StatusOK {
		return fill(len(ops), r), false
	}
	return c.batchResults(ops, body), false
}

func (c *Channel) request(ctx context.Context, o op) (*http.Request, error) {
	var body io.Reader
	if o.body != nil {
		b, err := json.Marshal(o.body)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, o.method, c.api+o.url, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if o.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// BatchRequest is one operation of a JSON $batch.
type BatchRequest struct {
	ID      string            `json:"id"`
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

// BatchResponse is the answer to one operation of a $batch.
type BatchResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

func (c *Channel) batchRequest(ctx context.Context, ops []op) (*http.Request, error) {
	var b struct {
		Requests []BatchRequest `json:"requests"`
	}
	for i, o := range ops {
		r := BatchRequest{ID: fmt.Sprint(i + 1), Method: o.method, URL: o.url}
		if o.body != nil {
			raw, err := json.Marshal(o.body)
			if err != nil {
				return nil, err
			}
			r.Body, r.Headers = raw, map[string]string{"Content-Type": "application/json"}
		}
		b.Requests = append(b.Requests, r)
	}
	raw, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.api+"$batch", bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	return req, nil
}

func (c *Channel) batchResults(ops []op, body []byte) []opResult {
	out := make([]opResult, len(ops))
	var b struct {
		Responses []BatchResponse `json:"responses"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		for i := range out {
			out[i] = opResult{code: http.StatusOK, err: fmt.Errorf("$batch response: %w", err)}
		}
		return out
	}
	got := map[string]BatchResponse{}
	for _, r := range b.Responses {
		got[r.ID] = r
	}
	for i := range ops {
		r, ok := got[fmt.Sprint(i+1)]
		if !ok {
			out[i] = opResult{code: http.StatusOK, err: fmt.Errorf("$batch response lacks operation %d", i+1)}
			continue
		}
		out[i] = opResult{code: r.Status, body: r.Body}
		if r.Status == http.StatusTooManyRequests || r.Status == http.StatusServiceUnavailable {
			out[i].retryAfter = writeback.ParseRetryAfter(r.Headers["Retry-After"], time.Now())
		}
	}
	return out
}

// ParseConfig decodes a routing file's "config" of this adapter, refusing
// unknown fields (a misspelt setting must not silently fall back to its
// default).
func ParseConfig(raw []byte) (Config, error) {
	var c Config
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("bc config: %w", err)
	}
	return c, nil
}
