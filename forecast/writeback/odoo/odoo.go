// Package odoo writes suggested purchase orders into Odoo 17, 18 and 19 as
// draft purchase orders (requests for quotation), and reads back what
// planners did with them.
//
// # Contract
//
// Channel is a writeback.Channel and a writeback.OutcomeReader. Each
// document becomes one purchase.order in state draft with one order_line
// per line (product_id, product_qty, price_unit, date_planned), the
// supplier as partner_id, the document's currency as currency_id, the
// location's operation type as picking_type_id, and our explanation in
// notes. It talks JSON-2 (POST /json/2/<model>/<method>, Authorization:
// bearer <API key>, X-Odoo-Database; Odoo 19) or JSON-RPC (POST /jsonrpc,
// object.execute_kw; Odoo 17 and 18), as configured.
//
// Odoo has no idempotency key, so our key (Document.ExternalRef) goes into
// the order's origin ("Source Document"), and purchase.order is searched by
// origin before any create: once per Send for all its documents (in
// batches), and again before every retry of a document. An order found is
// the document, accepted without a second create. That recovers a crash or
// a lost answer between Odoo's create and our erp_writeback_log row,
// whichever attempt, run or process finds it; a first attempt thus costs
// one create and a share of a batch search.
//
// Ids are mapped from Config (products by SKU, partners by supplier,
// operation types by location) or looked up: product.product by
// default_code = SKU, res.partner by ref = supplier id, res.currency by
// name, and cached for the channel's life. A SKU, supplier or currency Odoo
// does not know rejects the document (permanent, with the reason in the
// log): retrying cannot help until someone maps it. Connection failures,
// timeouts, 429 and 5xx are retried with backoff (Retry-After honoured); an
// API key Odoo refuses is re-read from Config.APIKeyFile once (a rotated
// key), else the document fails and stays for `shelflake writeback retry`.
// A server that cannot be connected to at all before it ever answered
// fails every document at once (writeback.UnreachableError).
package odoo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/shelflake/shelflake/forecast/writeback"
	"github.com/shelflake/shelflake/schema"
)

// Config configures a Channel. It is the "odoo" route's JSON in a write-back
// config file (package forecast/writeback/route).
type Config struct {
	// Name tells apart channels of several Odoo databases: the channel is
	// "odoo:<Name>" (default: Database).
	Name string `json:"name,omitempty"`
	// URL is the server's base URL, https://acme.odoo.com (required).
	URL string `json:"url"`
	// Database is sent as X-Odoo-Database (JSON-2) or passed to execute_kw
	// (JSON-RPC, required there).
	Database string `json:"database,omitempty"`
	// Protocol is "json2" (default, Odoo 19+) or "jsonrpc" (Odoo 17, 18).
	Protocol string `json:"protocol,omitempty"`
	// Login is the user of the API key, for JSON-RPC.
	Login string `json:"login,omitempty"`
	// APIKey, or the file holding it (re-read when Odoo refuses the key),
	// or the environment variable holding it. One is required.
	APIKey     string `json:"api_key,omitempty"`
	APIKeyFile string `json:"api_key_file,omitempty"`
	APIKeyEnv  string `json:"api_key_env,omitempty"`
	// CompanyID sets company_id on the orders (0: the user's company).
	CompanyID int64 `json:"company_id,omitempty"`
	// Products maps SKU → product.product id; SKUs not here are looked up
	// by default_code.
	Products map[string]int64 `json:"products,omitempty"`
	// Partners maps supplier id → res.partner id; others are looked up by
	// ref.
	Partners map[string]int64 `json:"partners,omitempty"`
	// PickingTypes maps location id → stock.picking.type id (the
	// warehouse's receipts); locations not here get Odoo's default.
	PickingTypes map[string]int64 `json:"picking_types,omitempty"`
	// Timeout bounds one call ("30s" default).
	Timeout Duration `json:"timeout,omitzero"`
	// MaxAttempts bounds the tries of one document (default 8).
	MaxAttempts int `json:"max_attempts,omitempty"`
	// Concurrency is the number of documents in flight (default 4).
	Concurrency int `json:"concurrency,omitempty"`
}

// Duration is a time.Duration read from a JSON string ("30s").
type Duration time.Duration

// UnmarshalJSON reads "30s" or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	var n float64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("duration %s: want \"30s\" or seconds", b)
	}
	*d = Duration(n * float64(time.Second))
	return nil
}

// MarshalJSON writes "30s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Options are what a program adds to a Config.
type Options struct {
	// Transport carries the calls. Default: a clone of http.DefaultTransport.
	Transport http.RoundTripper
	// Retry overrides the retry schedule (MaxAttempts from Config wins).
	Retry writeback.RetryPolicy
}

// Channel writes documents into one Odoo database.
type Channel struct {
	cfg   Config
	name  string
	rpc   caller
	retry writeback.RetryPolicy
	conc  int
	tmo   time.Duration
	reach *writeback.Reachability

	mu        sync.Mutex
	products  map[string]int64 // SKU → id
	skus      map[int64]string // id → SKU
	partners  map[string]int64
	currencys map[string]int64
}

// ParseConfig decodes a Config, refusing unknown fields.
func ParseConfig(raw []byte) (Config, error) {
	var c Config
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("odoo config: %w", err)
	}
	return c, nil
}

// New returns the channel of cfg.
func New(cfg Config, o Options) (*Channel, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("odoo: url %q: want the server's http(s) base URL", cfg.URL)
	}
	key := &apiKey{key: cfg.APIKey, file: cfg.APIKeyFile}
	switch {
	case key.key != "":
	case cfg.APIKeyFile != "":
		b, err := os.ReadFile(cfg.APIKeyFile)
		if err != nil {
			return nil, fmt.Errorf("odoo: api_key_file: %w", err)
		}
		key.key = strings.TrimSpace(string(b))
	case cfg.APIKeyEnv != "":
		key.key = os.Getenv(cfg.APIKeyEnv)
		if key.key == "" {
			return nil, fmt.Errorf("odoo: api_key_env %s is empty: set it to the API key of the Odoo user", cfg.APIKeyEnv)
		}
	}
	if key.key == "" {
		return nil, errors.New("odoo: api_key, api_key_file or api_key_env is required")
	}
	base := strings.TrimRight(cfg.URL, "/")
	reach := &writeback.Reachability{URL: base}
	client := reach.Client(o.Transport)
	c := &Channel{cfg: cfg, reach: reach, products: map[string]int64{}, skus: map[int64]string{}, partners: map[string]int64{}, currencys: map[string]int64{}}
	switch cfg.Protocol {
	case "", "json2":
		c.rpc = &json2{base: base, db: cfg.Database, key: key, client: client}
	case "jsonrpc":
		if cfg.Database == "" || cfg.Login == "" {
			return nil, errors.New("odoo: protocol jsonrpc needs database and login")
		}
		c.rpc = &jsonRPC{base: base, db: cfg.Database, login: cfg.Login, key: key, client: client}
	default:
		return nil, fmt.Errorf("odoo: protocol %q: want json2 or jsonrpc", cfg.Protocol)
	}
	c.name = "odoo:" + cfg.Name
	if cfg.Name == "" {
		c.name = "odoo:" + cfg.Database
		if cfg.Database == "" {
			c.name = "odoo:" + u.Host
		}
	}
	c.retry = o.Retry
	if cfg.MaxAttempts > 0 {
		c.retry.MaxAttempts = cfg.MaxAttempts
	}
	c.retry = c.retry.WithDefaults()
	c.conc = max(cfg.Concurrency, 1)
	if cfg.Concurrency <= 0 {
		c.conc = 4
	}
	c.tmo = time.Duration(cfg.Timeout)
	if c.tmo <= 0 {
		c.tmo = 30 * time.Second
	}
	for k, v := range cfg.Products {
		c.products[k], c.skus[v] = v, k
	}
	for k, v := range cfg.Partners {
		c.partners[k] = v
	}
	return c, nil
}

// Name implements writeback.Channel: "odoo:<name>".
func (c *Channel) Name() string { return c.name }

// Send implements writeback.Channel. It first looks all the documents' keys
// up in batches (one search_read per searchBatch keys): a document found is
// accepted without a call of its own, the others are created straight away
// and searched for again only before a retry. When the batch search fails,
// each document is searched for before its create.
func (c *Channel) Send(ctx context.Context, docs []writeback.Outgoing) []writeback.Result {
	res := make([]writeback.Result, len(docs))
	found := map[string]int64{}
	searched := true
	for i := 0; i < len(docs) && searched; i += searchBatch {
		keys := make([]string, 0, searchBatch)
		for _, o := range docs[i:min(i+searchBatch, len(docs))] {
			keys = append(keys, o.Doc.ExternalRef)
		}
		f, err := c.find(ctx, keys)
		if err != nil {
			searched = false
			break
		}
		for k, v := range f {
			found[k] = v
		}
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(c.conc, len(docs)) {
		wg.Go(func() {
			for i := range next {
				d := docs[i].Doc
				if id, ok := found[d.ExternalRef]; ok {
					now := time.Now()
					res[i] = writeback.Result{Status: schema.WritebackAccepted, Attempts: 1, Code: http.StatusOK,
						Response: fmt.Sprintf("purchase.order %d found", id), First: now, Last: now}
					continue
				}
				res[i] = c.send(ctx, d, !searched)
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

// mappingError is a document Odoo cannot take until someone maps an id.
type mappingError struct{ msg string }

func (e *mappingError) Error() string { return e.msg }

// searchBatch is the number of keys a search_read looks up at once.
const searchBatch = 200

// send delivers one document: find by key (unless Send's batch search
// found it absent and this is the first attempt), else create; retried.
func (c *Channel) send(ctx context.Context, d *writeback.Document, searchFirst bool) writeback.Result {
	r := writeback.Result{First: time.Now()}
	for n := 1; ; n++ {
		if down := c.reach.Down(); down != nil {
			r.Last, r.Status, r.Err = time.Now(), schema.WritebackFailed, down
			return r
		}
		r.Attempts = n
		id, created, err := c.attempt(ctx, d, searchFirst || n > 1)
		r.Last = time.Now()
		if down := c.reach.Check(err); down != nil {
			r.Status, r.Err = schema.WritebackFailed, down
			return r
		}
		if err == nil {
			r.Status, r.Err = schema.WritebackAccepted, nil
			verb := "found"
			if created {
				verb = "created"
			}
			r.Response = fmt.Sprintf("purchase.order %d %s", id, verb)
			r.Code = http.StatusOK
			return r
		}
		r.Err = err
		var me *mappingError
		var ce *callError
		switch {
		case errors.As(err, &me):
			r.Status = schema.WritebackRejected
			return r
		case errors.As(err, &ce):
			r.Code = ce.Code
			if ce.Auth {
				r.Status = schema.WritebackFailed
				r.Err = fmt.Errorf("%w (rotate the Odoo API key; the document stays for shelflake writeback retry)", err)
				return r
			}
			if !ce.Transient {
				r.Status = schema.WritebackRejected
				return r
			}
		}
		if ctx.Err() != nil || n >= c.retry.MaxAttempts {
			r.Status = schema.WritebackFailed
			if ctx.Err() != nil {
				r.Err = errors.Join(err, ctx.Err())
			}
			return r
		}
		var ra time.Duration
		if ce != nil {
			ra = ce.RetryAfter
		}
		if err := c.retry.Sleep(ctx, c.retry.Wait(n, ra)); err != nil {
			r.Status, r.Err = schema.WritebackFailed, errors.Join(r.Err, err)
			return r
		}
	}
}

func (c *Channel) call(ctx context.Context, model, method string, ids []int64, params map[string]any, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.tmo)
	defer cancel()
	return c.rpc.call(ctx, model, method, ids, params, out)
}

type orderRef struct {
	ID     int64  `json:"id"`
	Origin any    `json:"origin"`
	State  string `json:"state"`
}

// find returns the purchase.order ids whose origin is key.
func (c *Channel) find(ctx context.Context, keys []string) (map[string]int64, error) {
	var rows []orderRef
	err := c.call(ctx, "purchase.order", "search_read", nil, map[string]any{
		"domain": []any{[]any{"origin", "in", keys}}, "fields": []string{"id", "origin", "state"},
	}, &rows)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, r := range rows {
		if s, ok := r.Origin.(string); ok {
			if prev, dup := out[s]; !dup || r.ID < prev {
				out[s] = r.ID // the first created wins if a human copied one
			}
		}
	}
	return out, nil
}

// attempt makes one try: search by key (when search), map ids, create.
func (c *Channel) attempt(ctx context.Context, d *writeback.Document, search bool) (int64, bool, error) {
	if search {
		found, err := c.find(ctx, []string{d.ExternalRef})
		if err != nil {
			return 0, false, err
		}
		if id, ok := found[d.ExternalRef]; ok {
			return id, false, nil
		}
	}
	vals, err := c.orderValues(ctx, d)
	if err != nil {
		return 0, false, err
	}
	var ids []int64
	if err := c.call(ctx, "purchase.order", "create", nil, map[string]any{"vals_list": []any{vals}}, &ids); err != nil {
		return 0, false, err
	}
	if len(ids) != 1 {
		return 0, false, &callError{Model: "purchase.order", Method: "create", Message: fmt.Sprintf("returned %d ids for one order", len(ids))}
	}
	return ids[0], true, nil
}

// odooDatetime formats a business date as Odoo's UTC datetime (noon, so the
// date is the same in every time zone a planner may view it in).
func odooDatetime(d schema.Date) string { return d.String() + " 12:00:00" }

// orderValues builds the purchase.order values of d.
func (c *Channel) orderValues(ctx context.Context, d *writeback.Document) (map[string]any, error) {
	partner, err := c.partner(ctx, d.SupplierID)
	if err != nil {
		return nil, err
	}
	cur, err := c.currency(ctx, d.Currency)
	if err != nil {
		return nil, err
	}
	skus := make([]string, len(d.Lines))
	for i, l := range d.Lines {
		skus[i] = l.SKU
	}
	prods, err := c.productIDs(ctx, skus)
	if err != nil {
		return nil, err
	}
	lines := make([]any, len(d.Lines))
	for i, l := range d.Lines {
		lines[i] = []any{0, 0, map[string]any{
			"product_id":   prods[l.SKU],
			"product_qty":  l.Qty,
			"price_unit":   float64(l.UnitCost) / 1e4,
			"date_planned": odooDatetime(l.NeedByDate),
		}}
	}
	vals := map[string]any{
		"partner_id":   partner,
		"origin":       d.ExternalRef,
		"currency_id":  cur,
		"date_planned": odooDatetime(d.NeedByDate),
		"notes":        Notes(d),
		"order_line":   lines,
	}
	if c.cfg.CompanyID != 0 {
		vals["company_id"] = c.cfg.CompanyID
	}
	if pt, ok := c.cfg.PickingTypes[d.LocationID]; ok {
		vals["picking_type_id"] = pt
	}
	return vals, nil
}

// Notes is the explanation written into the order: one line per order line
// with the model, the forecast over the protection window, the reorder
// point, order-up-to level and inventory position behind the quantity.
func Notes(d *writeback.Document) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Suggested by shelflake run %s as of %s for location %s (key %s).\n", d.RunID, d.AsOf, d.LocationID, d.ExternalRef)
	for _, l := range d.Lines {
		e := l.Explanation
		fmt.Fprintf(&b, "%s: %d units (%s); model %s, forecast %.1f over the window, safety stock %.1f, reorder point %.1f, order-up-to %.1f, position %d.\n",
			l.SKU, l.Qty, strings.Join(l.Reasons, ", "), e.Model, e.ForecastWindow, e.SafetyStock, e.ReorderPoint, e.OrderUpTo, e.InventoryPosition)
	}
	return b.String()
}

type idRow struct {
	ID          int64  `json:"id"`
	DefaultCode any    `json:"default_code"`
	Ref         any    `json:"ref"`
	Name        string `json:"name"`
}

func (c *Channel) partner(ctx context.Context, supplier string) (int64, error) {
	c.mu.Lock()
	id, ok := c.partners[supplier]
	c.mu.Unlock()
	if ok {
		return id, nil
	}
	var rows []idRow
	if err := c.call(ctx, "res.partner", "search_read", nil, map[string]any{
		"domain": []any{[]any{"ref", "=", supplier}}, "fields": []string{"id", "ref"}, "limit": 2,
	}, &rows); err != nil {
		return 0, err
	}
	switch len(rows) {
	case 0:
		return 0, &mappingError{fmt.Sprintf("odoo: supplier %q: no res.partner with ref %q (set it on the vendor or map it in partners)", supplier, supplier)}
	case 1:
	default:
		return 0, &mappingError{fmt.Sprintf("odoo: supplier %q: several res.partner with ref %q (map it in partners)", supplier, supplier)}
	}
	c.mu.Lock()
	c.partners[supplier] = rows[0].ID
	c.mu.Unlock()
	return rows[0].ID, nil
}

func (c *Channel) currency(ctx context.Context, code string) (int64, error) {
	c.mu.Lock()
	id, ok := c.currencys[code]
	c.mu.Unlock()
	if ok {
		return id, nil
	}
	var rows []idRow
	if err := c.call(ctx, "res.currency", "search_read", nil, map[string]any{
		"domain": []any{[]any{"name", "=", code}}, "fields": []string{"id", "name"}, "limit": 1,
	}, &rows); err != nil {
		return 0, err
	}
	if len(rows) == 0 {
		return 0, &mappingError{fmt.Sprintf("odoo: currency %s is not active in Odoo (activate it under Accounting settings)", code)}
	}
	c.mu.Lock()
	c.currencys[code] = rows[0].ID
	c.mu.Unlock()
	return rows[0].ID, nil
}

// productIDs maps SKUs to product.product ids, looking up the unknown ones
// by default_code in one call.
func (c *Channel) productIDs(ctx context.Context, skus []string) (map[string]int64, error) {
	out := map[string]int64{}
	var missing []string
	c.mu.Lock()
	for _, s := range skus {
		if id, ok := c.products[s]; ok {
			out[s] = id
		} else {
			missing = append(missing, s)
		}
	}
	c.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	var rows []idRow
	if err := c.call(ctx, "product.product", "search_read", nil, map[string]any{
		"domain": []any{[]any{"default_code", "in", missing}}, "fields": []string{"id", "default_code"},
	}, &rows); err != nil {
		return nil, err
	}
	c.mu.Lock()
	for _, r := range rows {
		if s, ok := r.DefaultCode.(string); ok {
			c.products[s], c.skus[r.ID] = r.ID, s
			out[s] = r.ID
		}
	}
	c.mu.Unlock()
	var unknown []string
	for _, s := range missing {
		if _, ok := out[s]; !ok {
			unknown = append(unknown, s)
		}
	}
	if len(unknown) > 0 {
		return nil, &mappingError{fmt.Sprintf("odoo: sku %s: no product.product with that default_code (set the product's internal reference or map it in products)", strings.Join(unknown, ", "))}
	}
	return out, nil
}
