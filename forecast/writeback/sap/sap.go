// Package sap writes suggested purchase orders into SAP S/4HANA as
// purchase requisitions (OData V2 service API_PURCHASEREQ_PROCESS_SRV) and
// reads back what planners did with them.
//
// # Writing
//
// Each document becomes one purchase requisition: POST
// {base}/sap/opu/odata/sap/API_PURCHASEREQ_PROCESS_SRV/A_PurchaseRequisitionHeader
// with PurchaseRequisitionType (default NB), PurReqnDescription = Marker(key)
// and, deep-inserted in to_PurchaseReqnItem, one item per SKU: Material,
// Plant, RequestedQuantity, BaseUnit, PurchaseRequisitionPrice,
// PurReqnItemCurrency, DeliveryDate (/Date(ms)/), FixedSupplier,
// PurchasingGroup, PurchasingOrganization. Decimals are JSON strings, as
// OData V2 wants. Ids are mapped through Config (location → plant, supplier
// → fixed supplier, SKU → material); a missing mapping, or a refusal by
// SAP (an unknown material, a 4xx), rejects the document at once with the
// reason, never retried.
//
// Modifying requests carry a CSRF token fetched with a GET carrying
// "x-csrf-token: Fetch" (its session cookies kept in a cookie jar); a 403
// whose x-csrf-token header says Required ("CSRF token validation failed")
// fetches a new one and tries once more. Authentication is basic or OAuth2
// client credentials (Config.Auth).
//
// # Exactly once
//
// Two guards. Each create is a SAP Gateway repeatable request: the
// Repeatability-Request-ID header is a UUID derived from the document key
// and Repeatability-First-Sent the start of the key's week (FirstSent: the
// same in every process and run that sends the key), so SAP answers a
// resend with the first answer instead of creating again. And before every
// create the channel looks the key up ($filter=PurReqnDescription eq …): a
// requisition holding it is the document (accepted, not created again),
// which also covers a crash between runs. 408, 429 and 5xx are retried with
// backoff honouring Retry-After, up to Config.MaxAttempts tries.
//
// # Dry run
//
// Validate posts the documents with PurReqnDoOnlyValidation = true: SAP
// checks them (materials, plants, suppliers) without creating anything.
// Config.ValidateOnly makes Send do that too: valid documents come back
// failed ("validated only"), so a later real run still sends them.
//
// # Reading back
//
// Outcomes looks each requisition up with its items: all items deleted
// (IsDeleted "X") or none left is rejected; all release refused (release
// status 08) is rejected; released (03, 05) or turned into a purchase order
// (processing status other than N) is accepted, or changed when a quantity
// differs or an item was deleted or added; anything else is pending.
package sap

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/shelflake/shelflake/forecast/writeback"
	"github.com/shelflake/shelflake/forecast/writeback/internal/erphttp"
	"github.com/shelflake/shelflake/schema"
)

// ServicePath is the service's path below the host.
const ServicePath = "/sap/opu/odata/sap/API_PURCHASEREQ_PROCESS_SRV"

// Config is one S/4HANA system as written in the routing config.
type Config struct {
	// BaseURL is the system's https://host[:port].
	BaseURL string `json:"base_url"`
	// SAPClient is the sap-client (optional).
	SAPClient string `json:"sap_client,omitempty"`
	// Auth is "basic" (Username, Password or PasswordEnv) or "oauth2"
	// (TokenURL, ClientID, ClientSecret or ClientSecretEnv, Scope).
	Auth            string `json:"auth"`
	Username        string `json:"username,omitempty"`
	Password        string `json:"password,omitempty"`
	PasswordEnv     string `json:"password_env,omitempty"`
	TokenURL        string `json:"token_url,omitempty"`
	ClientID        string `json:"client_id,omitempty"`
	ClientSecret    string `json:"client_secret,omitempty"`
	ClientSecretEnv string `json:"client_secret_env,omitempty"`
	Scope           string `json:"scope,omitempty"`
	// PurchaseRequisitionType defaults to "NB".
	PurchaseRequisitionType string `json:"purchase_requisition_type,omitempty"`
	// PurchasingGroup and PurchasingOrganization of every item.
	PurchasingGroup        string `json:"purchasing_group"`
	PurchasingOrganization string `json:"purchasing_organization,omitempty"`
	// Plants maps our location ids to plants; Suppliers our supplier ids
	// to supplier numbers (FixedSupplier); Materials our SKUs to materials.
	Plants    map[string]string `json:"plants"`
	Suppliers map[string]string `json:"suppliers"`
	Materials map[string]string `json:"materials"`
	// BaseUnit is the unit of every quantity (default "EA"); BaseUnits
	// overrides it per SKU.
	BaseUnit  string            `json:"base_unit,omitempty"`
	BaseUnits map[string]string `json:"base_units,omitempty"`
	// ValidateOnly makes Send a dry run (see the package doc).
	ValidateOnly bool `json:"validate_only,omitempty"`
	// MaxConcurrent bounds the documents in flight (default 4);
	// MaxAttempts the tries of one (default 8); TimeoutSeconds one request
	// (default 30).
	MaxConcurrent  int     `json:"max_concurrent,omitempty"`
	MaxAttempts    int     `json:"max_attempts,omitempty"`
	TimeoutSeconds float64 `json:"timeout_seconds,omitempty"`
}

// Options are the channel's dependencies (tests replace them): Transport,
// Sleep, Jitter, the backoff bounds and Logger. Now is not read: the
// Repeatability-First-Sent derives from the document (FirstSent).
type Options = erphttp.Options

// Channel delivers documents to one S/4HANA system. It implements
// writeback.Channel and writeback.OutcomeReader.
type Channel struct {
	cfg     Config
	o       Options
	svc     string
	host    string
	client  *http.Client
	tokens  *writeback.TokenCache // nil with basic auth
	reach   writeback.Reachability
	timeout time.Duration
	skuOf   map[string]string // material → SKU

	mu   sync.Mutex
	csrf string
}

// New validates cfg and returns its channel.
func New(cfg Config, opts Options) (*Channel, error) {
	if cfg.Password == "" && cfg.PasswordEnv != "" {
		cfg.Password = os.Getenv(cfg.PasswordEnv)
	}
	if cfg.ClientSecret == "" && cfg.ClientSecretEnv != "" {
		cfg.ClientSecret = os.Getenv(cfg.ClientSecretEnv)
	}
	if cfg.PurchaseRequisitionType == "" {
		cfg.PurchaseRequisitionType = "NB"
	}
	if cfg.BaseUnit == "" {
		cfg.BaseUnit = "EA"
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = 4
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 8
	}
	if cfg.TimeoutSeconds <= 0 {
		cfg.TimeoutSeconds = 30
	}
	var errs []error
	if err := writeback.CheckHTTPURL("base_url", cfg.BaseURL); err != nil {
		errs = append(errs, err)
	}
	switch cfg.Auth {
	case "basic":
		if cfg.Username == "" || cfg.Password == "" {
			errs = append(errs, errors.New("auth basic: username and password (or password_env) are required"))
		}
	case "oauth2":
		if u, err := url.Parse(cfg.TokenURL); err != nil || u.Host == "" || cfg.ClientID == "" || cfg.ClientSecret == "" {
			errs = append(errs, errors.New("auth oauth2: token_url, client_id and client_secret (or client_secret_env) are required"))
		}
	default:
		errs = append(errs, fmt.Errorf("auth %q: want basic or oauth2", cfg.Auth))
	}
	if cfg.PurchasingGroup == "" {
		errs = append(errs, errors.New("purchasing_group is required"))
	}
	if len(cfg.Plants) == 0 || len(cfg.Materials) == 0 {
		errs = append(errs, errors.New("plants and materials mappings are required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("sap write-back: %w", err)
	}
	opts = opts.WithDefaults()
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	base, _ := url.Parse(cfg.BaseURL) // checked above
	c := &Channel{cfg: cfg, o: opts, svc: strings.TrimRight(cfg.BaseURL, "/") + ServicePath, host: base.Host,
		timeout: time.Duration(cfg.TimeoutSeconds * float64(time.Second)), skuOf: map[string]string{}}
	c.client = c.reach.Client(opts.Transport)
	c.client.Jar = jar
	if cfg.Auth == "oauth2" {
		var scopes []string
		if cfg.Scope != "" {
			scopes = []string{cfg.Scope}
		}
		c.tokens = writeback.NewTokenCache(&clientcredentials.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
			TokenURL: cfg.TokenURL, Scopes: scopes}, c.client)
	}
	for sku, m := range cfg.Materials {
		c.skuOf[m] = sku
	}
	return c, nil
}

// Name implements writeback.Channel: "sap:<host>" (with "/<client>" when
// a sap-client is set).
func (c *Channel) Name() string {
	if c.cfg.SAPClient != "" {
		return "sap:" + c.host + "/" + c.cfg.SAPClient
	}
	return "sap:" + c.host
}

// Marker is the PurReqnDescription (40 characters at most) that ties a
// requisition to our document key.
func Marker(key string) string { return "SL " + key }

// RequestID is the Repeatability-Request-ID of a document's create: a
// UUID (version 8, RFC 9562) derived from its key.
func RequestID(key string) string {
	h := sha256.Sum256([]byte("shelflake/sap/repeatability\x00" + key))
	h[6] = h[6]&0x0f | 0x80
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// FirstSent is the Repeatability-First-Sent of a document's create:
// 00:00 UTC on the Monday of the ISO week of its as-of date.
//
// The repeatable-requests contract wants the same Request-ID and the same
// creation time on every retry of a request, and RequestID depends on the
// key alone, which names the week, location and supplier. So First-Sent
// must depend on the key's document alone too, not on a clock: a clock
// read in memory would change when the process is killed and the outbox is
// delivered again by another one (or by another run of the same week),
// sending the same ID with a new First-Sent, which SAP refuses or, worse,
// takes for a new request. The start of the key's week is the earliest
// moment any run could have sent the key, so it is never in the future of
// a real send, and every process and every run derives the same instant.
// Its price: the time is up to a week older than the first real send; a
// server that keeps request IDs for less than that refuses the create as
// too old to repeat (a 4xx: the document is rejected with SAP's message,
// never doubled).
func FirstSent(d *writeback.Document) time.Time {
	t := d.AsOf.Time()
	wd := (int(t.Weekday()) + 6) % 7 // days since Monday
	return time.Date(t.Year(), t.Month(), t.Day()-wd, 0, 0, 0, 0, time.UTC)
}

// Header is the part of A_PurchaseRequisitionHeader the channel writes.
type Header struct {
	PurchaseRequisition     string `json:"PurchaseRequisition,omitempty"`
	PurchaseRequisitionType string `json:"PurchaseRequisitionType"`
	PurReqnDescription      string `json:"PurReqnDescription"`
	PurReqnDoOnlyValidation bool   `json:"PurReqnDoOnlyValidation,omitempty"`
	Items                   struct {
		Results []Item `json:"results"`
	} `json:"to_PurchaseReqnItem"`
}

// Item is the part of A_PurchaseRequisitionItem the channel writes and
// reads.
type Item struct {
	PurchaseRequisition      string `json:"PurchaseRequisition,omitempty"`
	PurchaseRequisitionItem  string `json:"PurchaseRequisitionItem"`
	Material                 string `json:"Material"`
	Plant                    string `json:"Plant"`
	RequestedQuantity        string `json:"RequestedQuantity"`
	BaseUnit                 string `json:"BaseUnit"`
	PurchaseRequisitionPrice string `json:"PurchaseRequisitionPrice,omitempty"`
	PurReqnItemCurrency      string `json:"PurReqnItemCurrency,omitempty"`
	DeliveryDate             string `json:"DeliveryDate"`
	FixedSupplier            string `json:"FixedSupplier,omitempty"`
	PurchasingGroup          string `json:"PurchasingGroup"`
	PurchasingOrganization   string `json:"PurchasingOrganization,omitempty"`
	// Read back only.
	PurReqnReleaseStatus string `json:"PurReqnReleaseStatus,omitempty"`
	ProcessingStatus     string `json:"ProcessingStatus,omitempty"`
	IsDeleted            string `json:"IsDeleted,omitempty"`
}

// odataDate is an Edm.DateTime in OData V2 JSON.
func odataDate(d schema.Date) string { return fmt.Sprintf("/Date(%d)/", d.Time().UnixMilli()) }

// header maps a document to its requisition, or says what mapping is
// missing.
func (c *Channel) header(d *writeback.Document) (*Header, error) {
	var errs []error
	plant, ok := c.cfg.Plants[d.LocationID]
	if !ok {
		errs = append(errs, fmt.Errorf("location %q has no plant in the sap config (plants)", d.LocationID))
	}
	supplier := ""
	if len(c.cfg.Suppliers) > 0 {
		if supplier, ok = c.cfg.Suppliers[d.SupplierID]; !ok {
			errs = append(errs, fmt.Errorf("supplier %q has no supplier number in the sap config (suppliers)", d.SupplierID))
		}
	}
	h := &Header{PurchaseRequisitionType: c.cfg.PurchaseRequisitionType, PurReqnDescription: Marker(d.ExternalRef)}
	for i, l := range d.Lines {
		m, ok := c.cfg.Materials[l.SKU]
		if !ok {
			errs = append(errs, fmt.Errorf("sku %q has no material in the sap config (materials)", l.SKU))
			continue
		}
		unit := c.cfg.BaseUnit
		if u, ok := c.cfg.BaseUnits[l.SKU]; ok {
			unit = u
		}
		h.Items.Results = append(h.Items.Results, Item{PurchaseRequisitionItem: fmt.Sprint(10 * (i + 1)), Material: m,
			Plant: plant, RequestedQuantity: fmt.Sprint(l.Qty), BaseUnit: unit, PurchaseRequisitionPrice: l.UnitCost.String(),
			PurReqnItemCurrency: d.Currency, DeliveryDate: odataDate(l.NeedByDate), FixedSupplier: supplier,
			PurchasingGroup: c.cfg.PurchasingGroup, PurchasingOrganization: c.cfg.PurchasingOrganization})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("document %s: %w", d.ExternalRef, err)
	}
	return h, nil
}

// Send implements writeback.Channel: MaxConcurrent documents at a time,
// each retried on its own.
func (c *Channel) Send(ctx context.Context, docs []writeback.Outgoing) []writeback.Result {
	res := make([]writeback.Result, len(docs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(c.cfg.MaxConcurrent, len(docs)) {
		wg.Go(func() {
			for i := range next {
				res[i] = c.send(ctx, docs[i].Doc, c.cfg.ValidateOnly)
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

// Validate checks documents in SAP without creating anything
// (PurReqnDoOnlyValidation): nil for a document SAP would take, else why
// not.
func (c *Channel) Validate(ctx context.Context, docs []*writeback.Document) []error {
	out := make([]error, len(docs))
	for i, d := range docs {
		r := c.send(ctx, d, true)
		if r.Status == schema.WritebackRejected || !errors.Is(r.Err, errValidated) {
			out[i] = r.Err
		}
	}
	return out
}

var errValidated = errors.New("validated only (validate_only): not created")

// send delivers one document.
func (c *Channel) send(ctx context.Context, d *writeback.Document, validate bool) writeback.Result {
	now := time.Now()
	r := writeback.Result{First: now, Last: now}
	h, err := c.header(d)
	if err != nil {
		r.Status, r.Err = schema.WritebackRejected, err
		return r
	}
	h.PurReqnDoOnlyValidation = validate
	for n := 1; ; n++ {
		r.Attempts = n
		a := c.attempt(ctx, d, h, validate)
		r.Last, r.Code, r.Response, r.Err = time.Now(), a.code, a.response, a.err
		switch {
		case a.unreachable:
			r.Status = schema.WritebackFailed
			return r
		case a.err == nil && a.code/100 == 2 && validate:
			r.Status, r.Err = schema.WritebackFailed, errValidated
			return r
		case a.err == nil && a.code/100 == 2:
			r.Status = schema.WritebackAccepted
			return r
		case a.final || (a.err == nil && !writeback.Retryable(a.code) && !a.transient):
			r.Status = schema.WritebackRejected
			if r.Err == nil {
				r.Err = fmt.Errorf("sap refused the requisition: http %d: %s", a.code, a.message)
			}
			return r
		}
		if r.Err == nil {
			r.Err = fmt.Errorf("sap answered http %d: %s", a.code, a.message)
		}
		if ctx.Err() != nil || n >= c.cfg.MaxAttempts {
			r.Status = schema.WritebackFailed
			if ctx.Err() != nil {
				r.Err = ctx.Err()
			}
			return r
		}
		if err := c.o.Sleep(ctx, c.o.Retry().Wait(n, a.retryAfter)); err != nil {
			r.Status, r.Err = schema.WritebackFailed, err
			return r
		}
	}
}

// answer is the outcome of one attempt (a lookup and perhaps a create).
type answer struct {
	code              int
	response, message string
	retryAfter        time.Duration
	err               error
	final             bool
	unreachable       bool
	// transient: a status that is not retryable in general is here (a
	// CSRF token refused again right after a fresh fetch).
	transient bool
}

// attempt looks the document up, then creates it when SAP does not hold
// it.
func (c *Channel) attempt(ctx context.Context, d *writeback.Document, h *Header, validate bool) answer {
	if !validate {
		found, a := c.find(ctx, d.ExternalRef)
		if a.err != nil || a.code != http.StatusOK {
			return a
		}
		if found != nil {
			return answer{code: http.StatusOK, response: ledger(found.PurchaseRequisition)}
		}
	}
	body, err := json.Marshal(h)
	if err != nil {
		return answer{err: err, final: true}
	}
	hdr := http.Header{}
	if !validate {
		hdr.Set("Repeatability-Request-ID", RequestID(d.ExternalRef))
		hdr.Set("Repeatability-First-Sent", FirstSent(d).Format(http.TimeFormat))
	}
	a, raw := c.do(ctx, http.MethodPost, "/A_PurchaseRequisitionHeader", hdr, body)
	if a.err == nil && a.code == http.StatusCreated {
		var created struct {
			D Header `json:"d"`
		}
		if err := json.Unmarshal(raw, &created); err == nil {
			a.response = ledger(created.D.PurchaseRequisition)
		}
	}
	return a
}

func ledger(pr string) string { return fmt.Sprintf(`{"PurchaseRequisition":%q}`, pr) }

// Requisition is a purchase requisition as read back.
type Requisition struct {
	PurchaseRequisition string `json:"PurchaseRequisition"`
	PurReqnDescription  string `json:"PurReqnDescription"`
	Items               struct {
		Results []Item `json:"results"`
	} `json:"to_PurchaseReqnItem"`
}

// find returns the requisition holding key (nil when none).
func (c *Channel) find(ctx context.Context, key string) (*Requisition, answer) {
	q := url.Values{}
	q.Set("$filter", "PurReqnDescription eq '"+Marker(key)+"'")
	q.Set("$expand", "to_PurchaseReqnItem")
	q.Set("$format", "json")
	a, raw := c.do(ctx, http.MethodGet, "/A_PurchaseRequisitionHeader?"+q.Encode(), nil, nil)
	if a.err != nil || a.code != http.StatusOK {
		return nil, a
	}
	var list struct {
		D struct {
			Results []Requisition `json:"results"`
		} `json:"d"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		a.err = fmt.Errorf("requisition of %s: %w", key, err)
		return nil, a
	}
	for i := range list.D.Results {
		if list.D.Results[i].PurReqnDescription == Marker(key) {
			return &list.D.Results[i], a
		}
	}
	return nil, a
}

// do makes one request (fetching a CSRF token first for a modifying one),
// with one more try after a 401 (OAuth2: a new token) or a CSRF refusal (a
// new CSRF token).
func (c *Channel) do(ctx context.Context, method, path string, hdr http.Header, body []byte) (answer, []byte) {
	authRetried, csrfRetried := false, false
	for {
		ctx, cancel := context.WithTimeout(ctx, c.timeout)
		a, raw, retry := c.try(ctx, method, path, hdr, body, &authRetried, &csrfRetried)
		cancel()
		if !retry {
			return a, raw
		}
	}
}

func (c *Channel) try(ctx context.Context, method, path string, hdr http.Header, body []byte, authRetried, csrfRetried *bool) (answer, []byte, bool) {
	modifying := method != http.MethodGet
	var csrf string
	if modifying {
		var a answer
		if csrf, a = c.csrfToken(ctx); a.err != nil || csrf == "" {
			return a, nil, false
		}
	}
	u := c.svc + path
	if c.cfg.SAPClient != "" {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		u += sep + "sap-client=" + url.QueryEscape(c.cfg.SAPClient)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return answer{err: err, final: true}, nil, false
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "application/json")
	if modifying {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("x-csrf-token", csrf)
	}
	tok, a := c.auth(ctx, req)
	if a.err != nil {
		return a, nil, false
	}
	resp, err := c.client.Do(req)
	if err != nil {
		a := answer{err: err}
		if ue := c.reach.Unreachable(err); ue != nil {
			a.err, a.unreachable = ue, true
		}
		return a, nil, false
	}
	raw, rerr := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusForbidden && strings.EqualFold(resp.Header.Get("x-csrf-token"), "required") && !*csrfRetried:
		*csrfRetried = true
		c.dropCSRF(csrf)
		return answer{}, nil, true
	case resp.StatusCode == http.StatusUnauthorized && c.tokens != nil && !*authRetried:
		*authRetried = true
		c.tokens.Invalidate(tok)
		return answer{}, nil, true
	}
	a = answer{code: resp.StatusCode, response: excerpt(raw), message: erphttp.ODataMessage(raw)}
	if resp.StatusCode == http.StatusForbidden && strings.EqualFold(resp.Header.Get("x-csrf-token"), "required") {
		// Refused again with a fresh token (expired meanwhile): try later.
		c.dropCSRF(csrf)
		a.transient = true
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		a.retryAfter = writeback.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	if rerr != nil {
		a.err = fmt.Errorf("read response: %w", rerr)
	}
	return a, raw, false
}

func excerpt(b []byte) string {
	if len(b) > 1024 {
		b = b[:1024]
	}
	return string(b)
}

// auth sets the request's credentials.
func (c *Channel) auth(ctx context.Context, req *http.Request) (*oauth2.Token, answer) {
	if c.tokens == nil {
		req.SetBasicAuth(c.cfg.Username, c.cfg.Password)
		return nil, answer{}
	}
	t, err := c.tokens.Token(ctx)
	if err != nil {
		code, refused := writeback.TokenRefused(err)
		a := answer{code: code, err: fmt.Errorf("oauth2 token: %w", err), final: refused}
		if ue := c.reach.Unreachable(err); ue != nil {
			a.err, a.unreachable = ue, true
		}
		return nil, a
	}
	t.SetAuthHeader(req)
	return t, answer{}
}

// csrfToken returns the current CSRF token, fetching one when there is
// none.
func (c *Channel) csrfToken(ctx context.Context) (string, answer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.csrf != "" {
		return c.csrf, answer{}
	}
	u := c.svc + "/"
	if c.cfg.SAPClient != "" {
		u += "?sap-client=" + url.QueryEscape(c.cfg.SAPClient)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", answer{err: err, final: true}
	}
	req.Header.Set("x-csrf-token", "Fetch")
	req.Header.Set("Accept", "application/json")
	tok, a := c.auth(ctx, req)
	if a.err != nil {
		return "", a
	}
	resp, err := c.client.Do(req)
	if err != nil {
		a := answer{err: fmt.Errorf("fetch csrf token: %w", err)}
		if ue := c.reach.Unreachable(err); ue != nil {
			a.err, a.unreachable = ue, true
		}
		return "", a
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	csrf := resp.Header.Get("x-csrf-token")
	if resp.StatusCode != http.StatusOK || csrf == "" || strings.EqualFold(csrf, "required") {
		a := answer{code: resp.StatusCode, response: excerpt(raw), message: erphttp.ODataMessage(raw)}
		a.err = fmt.Errorf("fetch csrf token: http %d: %s", resp.StatusCode, a.message)
		a.final = resp.StatusCode/100 == 4 && !writeback.Retryable(resp.StatusCode) && (c.tokens == nil || resp.StatusCode != http.StatusUnauthorized)
		if c.tokens != nil && resp.StatusCode == http.StatusUnauthorized {
			c.tokens.Invalidate(tok) // the next attempt fetches a new one
		}
		return "", a
	}
	c.csrf = csrf
	return csrf, answer{}
}

// dropCSRF forgets old if it is still the current CSRF token.
func (c *Channel) dropCSRF(old string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.csrf == old {
		c.csrf = ""
	}
}

// ParseConfig decodes a routing file's "config" of this adapter, refusing
// unknown fields (a misspelt setting must not silently fall back to its
// default).
func ParseConfig(raw []byte) (Config, error) {
	var c Config
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("sap config: %w", err)
	}
	return c, nil
}
