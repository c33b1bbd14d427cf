// Package world is shelflake's synthetic retail world: stores and distribution
// centres (DCs) in several time zones, a catalogue of SKUs with demand profiles,
// suppliers with variable lead times, and per location-SKU inventory that sells
// down and is refilled by purchase orders placed by an ordering [Policy].
//
// Everything is a deterministic function of [Config]: the same seed and sizes
// give the same world, the same true demand and byte-identical records.
//
// The world has two faces:
//
//   - A per-series model. Every location-SKU pair is a series whose true daily
//     demand is a pure function of (seed, location, SKU, day) — see
//     [World.Demand] — and whose inventory is simulated by a [Sim], one series
//     at a time, allocation-free after warm-up. Replaying a series with another
//     [Policy] sees the same demand and the same supplier behaviour for orders
//     placed on the same day, so policies can be compared on fill rate, lost
//     sales and average inventory ([Stats]).
//   - A record generator ([World.Generate]) that runs every series day by day
//     and renders what a retailer's systems would publish: POS transactions,
//     inventory snapshots, purchase-order line states, item-location
//     parameters and the promotion calendar (each promotion published
//     [PromotionNoticeDays] ahead), in the JSON of package schema, to a [Sink],
//     together with the ground truth (true demand, lost demand, malformed
//     records sent, counts).
//
// A hard world (Config.Hard, hard.go) keeps the entities and changes how
// demand is made, so that a forecaster is not judged on forms it shares with
// the generator: promotion response non-linear in the discount and different
// per store, department and item; promotions moved or cancelled after
// publication (Promotion.Change; World.PromotionFeed is what the ERP
// publishes, World.PublishedPromotions what it had published by a day);
// store promotions; moving holidays; level shifts; negative-binomial demand.
//
// Randomness: world construction uses math/rand/v2 PCG streams seeded from the
// seed and the entity's index (so a store's or SKU's attributes do not depend
// on how many others there are). Per series and day the model draws from a
// counter-based SplitMix64 stream keyed by (seed, location, SKU, day, purpose),
// so any day of any series can be computed alone, in any order, on any
// goroutine, with the same result.
package world

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/shelflake/shelflake/schema"
)

// DefaultStart is the first business day of a world when Config.Start is zero:
// Monday 2026-01-05 (20458 days after 1970-01-01; a test checks it).
const DefaultStart schema.Date = 20458

// Config sizes and seeds a world. The zero value of a field means its default.
type Config struct {
	// Seed makes the world; equal configs give equal worlds.
	Seed uint64
	// Stores is the number of stores (default 20).
	Stores int
	// SKUs is the number of SKUs; every location carries all of them (default 200).
	SKUs int
	// Days is the number of business days simulated (default 120).
	Days int
	// Start is the first business day (default DefaultStart; zero means the
	// default, so 1970-01-01 cannot be asked for).
	Start schema.Date
	// DCs is the number of distribution centres (default: one per 8 stores,
	// between 1 and 4).
	DCs int
	// Hard makes demand depart from the forms a forecaster may share with
	// the generator (see hard.go): promotion lift non-linear in the
	// discount and different per store, department and item, post-promotion
	// dips of varying depth and length, promotions moved or cancelled after
	// publication (the change published late or never), store-specific
	// promotions, moving holidays that shift demand to the days before,
	// level shifts and trend changes, store-specific weekday profiles, an
	// additive demand component and gamma-Poisson (negative binomial)
	// over-dispersion. The stores, items, suppliers, closures and parameters
	// are those of the same config without Hard.
	Hard bool `json:",omitempty"`
	// Faults, when set, injects stock-record faults with ground truth (see
	// Faults); nil publishes records equal to the shelf.
	Faults *Faults `json:",omitempty"`
}

// Limits on Config sizes: identifiers and tables stay small and the int32
// day arithmetic stays safe.
const (
	MaxStores = 1_000_000
	MaxSKUs   = 10_000_000
	MaxDays   = 20_000
	MaxDCs    = 100
)

func (c Config) withDefaults() Config {
	if c.Stores == 0 {
		c.Stores = 20
	}
	if c.SKUs == 0 {
		c.SKUs = 200
	}
	if c.Days == 0 {
		c.Days = 120
	}
	if c.Start == 0 {
		c.Start = DefaultStart
	}
	if c.DCs == 0 {
		c.DCs = min(max(c.Stores/8, 1), 4)
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	if c.Stores < 1 || c.Stores > MaxStores {
		errs = append(errs, fmt.Errorf("stores %d: want 1..%d", c.Stores, MaxStores))
	}
	if c.SKUs < 1 || c.SKUs > MaxSKUs {
		errs = append(errs, fmt.Errorf("skus %d: want 1..%d", c.SKUs, MaxSKUs))
	}
	if c.Days < 1 || c.Days > MaxDays {
		errs = append(errs, fmt.Errorf("days %d: want 1..%d", c.Days, MaxDays))
	}
	if c.DCs < 1 || c.DCs > MaxDCs {
		errs = append(errs, fmt.Errorf("dcs %d: want 1..%d", c.DCs, MaxDCs))
	}
	if c.Start < schema.NewDate(1900, 1, 1) || c.Start > schema.NewDate(2200, 1, 1) {
		errs = append(errs, fmt.Errorf("start %s: want a date between 1900 and 2200", c.Start))
	}
	return errors.Join(errs...)
}

// LocationKind says what a location is.
type LocationKind string

// Location kinds.
const (
	KindStore LocationKind = "store"
	KindDC    LocationKind = "dc"
)

// Location is a store or a distribution centre. Stores sell through POS
// registers; DCs ship to e-commerce customers (their outbound demand is on no
// stream, only visible as falling stock). Both hold every SKU, receive POs and
// publish inventory snapshots.
type Location struct {
	// Index is the location's position in World.Locations: stores first
	// (0..Stores-1), then DCs.
	Index int
	// ID is the location_id (and store_id for stores): "S0001", "DC01".
	ID   string
	Kind LocationKind
	// Zone is the IANA time zone name; TZ the loaded zone.
	Zone string
	TZ   *time.Location
	// Country is an ISO 3166 alpha-2 code; Currency an ISO 4217 code.
	Country  string
	Currency string
	// Size is small, medium, large or xl for stores, dc for DCs; SizeFactor
	// scales demand (a medium store is 1).
	Size       string
	SizeFactor float64
	// Registers is the number of POS registers (stores).
	Registers int
	// OpenHour and CloseHour bound POS event times, local time.
	OpenHour, CloseHour int
	// TaxStandardBP and TaxReducedBP are sales tax / VAT rates in basis points
	// (1/100 of a percent) added on top of shelf prices; reduced applies to
	// categories marked so (groceries).
	TaxStandardBP, TaxReducedBP int64

	country int // index into countries
}

// Profile is a SKU's demand pattern.
type Profile uint8

// Demand profiles.
const (
	// Fast movers sell most days, several units a day, over-dispersed.
	Fast Profile = iota
	// Slow movers sell about a unit a day or less, Poisson.
	Slow
	// Intermittent items sell on few days, in lumps of several units.
	Intermittent
)

// String names the profile.
func (p Profile) String() string {
	switch p {
	case Fast:
		return "fast"
	case Slow:
		return "slow"
	case Intermittent:
		return "intermittent"
	}
	return fmt.Sprintf("profile(%d)", uint8(p))
}

// Item is one SKU of the catalogue.
type Item struct {
	Index       int
	ID          string // "SKU000001"
	Description string
	Category    string
	Department  string
	Profile     Profile
	// Supplier is the index of the SKU's supplier in World.Suppliers.
	Supplier int
	// PriceUSDCents is the shelf price in US cents; other currencies are
	// derived from it (see World.UnitPrice).
	PriceUSDCents int64
	// CostRatioBP is unit cost as a fraction of price, in basis points.
	CostRatioBP int64
	// Promotions are the chain-wide promotions of this SKU, by start day.
	Promotions []Promotion
	// Base is the demand scale at a medium store at no trend or season: mean
	// units a day for fast and slow items, the probability of a selling day
	// for intermittent ones.
	Base float64
	// LumpSize is the mean units on a selling day of an intermittent item.
	LumpSize float64
	// CasePack is the store case pack (DCs order in layers of 10 cases).
	CasePack int

	cat int // index into categories
}

// Promotion lowers an item's price by DiscountPct and lifts its demand by Lift
// on days [Start, End) (day indices), chain-wide. Demand dips to 85% for three
// days after (customers stocked up). The last promotions of the calendar may
// run past the world's last day (they are published before it).
//
// In a hard world (Config.Hard) Start, End and DiscountPct are the promotion
// as the ERP first publishes it; Change says what happened after; StoreID
// names the one store of a store-specific promotion; Lift is the chain's
// typical lift at the discount, which each store, department and item
// scales; and the dip after it varies in depth and length.
type Promotion struct {
	ID          string
	Start, End  int
	DiscountPct int64
	Lift        float64
	// StoreID is the store of a store-specific promotion, "" chain-wide.
	StoreID string `json:",omitempty"`
	// Change is the promotion's change after publication, nil when it ran
	// as published.
	Change *PromotionChange `json:",omitempty"`

	store    int     // location index + 1 of StoreID; 0 chain-wide
	dipDays  int     // hard world: days of the dip after it
	dipDepth float64 // hard world: demand multiplier during the dip
}

// PromotionChange is what happened to a promotion after the ERP published
// it: cancelled, or moved to run on days [Start, End). Published is the day
// the ERP publishes the change (a revised record on erp.promotions), or -1
// when the stores changed it without the feed ever saying so.
type PromotionChange struct {
	Cancelled  bool
	Start, End int
	Published  int
}

// Ran returns the days [start, end) promotion p actually ran, and false
// when it was cancelled.
func (p *Promotion) Ran() (start, end int, ok bool) {
	if c := p.Change; c != nil {
		return c.Start, c.End, !c.Cancelled
	}
	return p.Start, p.End, true
}

// Applies reports whether p covers location loc: chain-wide, or loc's own.
func (p *Promotion) Applies(loc int) bool { return p.store == 0 || p.store == loc+1 }

// Supplier delivers purchase orders after a lead time drawn around its mean.
type Supplier struct {
	Index int
	ID    string // "SUP001"
	Name  string
	// LeadMean is the mean lead time in days; LeadCV its coefficient of
	// variation; LateProb the chance a delivery is 2–7 days later still.
	LeadMean float64
	LeadCV   float64
	LateProb float64
	// LeadTimeDays is the nominal lead time published on item_locations.
	LeadTimeDays int
}

// World is a generated retail world. It is immutable after New and safe for
// concurrent use.
type World struct {
	cfg       Config
	locs      []Location
	items     []Item
	suppliers []Supplier
	// mult[country][category][day] is the demand multiplier of weekday,
	// season and holidays; 0 means the location is closed that day.
	mult [][][]float32
	// supplierSKUs[s] lists the SKU indices of supplier s (line numbers).
	lineNo []int
	// hard holds the hard world's extra structure (nil unless Config.Hard).
	hard *hardWorld
}

// New builds the world of cfg.
func New(cfg Config) (*World, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("world config: %w", err)
	}
	w := &World{cfg: cfg}
	if err := w.buildLocations(); err != nil {
		return nil, err
	}
	w.buildSuppliers()
	w.buildItems()
	w.buildCalendar()
	if cfg.Hard {
		w.buildHard()
	}
	return w, nil
}

// Config returns the world's configuration with defaults filled in.
func (w *World) Config() Config { return w.cfg }

// Locations returns all locations: stores first, then DCs. Do not modify.
func (w *World) Locations() []Location { return w.locs }

// NumStores returns the number of stores (locations 0..NumStores-1).
func (w *World) NumStores() int { return w.cfg.Stores }

// Items returns the catalogue. Do not modify.
func (w *World) Items() []Item { return w.items }

// Suppliers returns the suppliers. Do not modify.
func (w *World) Suppliers() []Supplier { return w.suppliers }

// Days returns the number of simulated days.
func (w *World) Days() int { return w.cfg.Days }

// Date returns the calendar date of day index day.
func (w *World) Date(day int) schema.Date { return w.cfg.Start.AddDays(day) }

// Open reports whether location loc trades on day (stores closed on some
// holidays and, in Germany, on Sundays).
func (w *World) Open(loc, day int) bool {
	return w.mult[w.locs[loc].cal()][0][day] != 0
}

// PromotionNoticeDays is how far ahead of its start the ERP publishes a
// promotion on erp.promotions (at the world's start, the promotions already
// within reach are published on day 0).
const PromotionNoticeDays = 35

// PublishDay returns the day index on which the ERP publishes p: its
// start less PromotionNoticeDays, but not before day 0.
func (p *Promotion) PublishDay() int { return max(0, p.Start-PromotionNoticeDays) }

// Promotion returns the chain-wide promotion of sku running on day, or nil.
func (w *World) Promotion(sku, day int) *Promotion {
	if w.cfg.Hard {
		return w.PromotionAt(-1, sku, day)
	}
	ps := w.items[sku].Promotions
	for i := range ps {
		if day >= ps[i].Start && day < ps[i].End {
			return &ps[i]
		}
		if ps[i].Start > day {
			break
		}
	}
	return nil
}

// PromotionAt returns the promotion of sku actually running at location
// loc on day (chain-wide or loc's own; loc −1 for chain-wide only), or nil.
func (w *World) PromotionAt(loc, sku, day int) *Promotion {
	if !w.cfg.Hard {
		return w.Promotion(sku, day)
	}
	ps := w.items[sku].Promotions
	for i := range ps {
		p := &ps[i]
		if p.store != 0 && p.store != loc+1 {
			continue
		}
		if s, e, ok := p.Ran(); ok && day >= s && day < e {
			return p
		}
	}
	return nil
}

// UnitPrice returns the shelf price of sku at loc in loc's currency, in whole
// cents (x.x9 endings).
func (w *World) UnitPrice(loc, sku int) schema.Money {
	return schema.MoneyFromMinor(w.priceCents(loc, sku))
}

func (w *World) priceCents(loc, sku int) int64 {
	usd := w.items[sku].PriceUSDCents
	fx := countries[w.locs[loc].country].fxPermille
	if fx == 1000 {
		return usd
	}
	p := (usd*fx/1000+5)/10*10 - 1
	return max(p, 49)
}

// baseCost returns sku's unit cost at loc before any parameter update: price ×
// cost ratio, exact to 1/100 of a cent.
func (w *World) baseCost(loc, sku int) schema.Money {
	price := w.UnitPrice(loc, sku)
	return schema.Money(int64(price) * w.items[sku].CostRatioBP / 10000)
}

// Series numbers location-SKU pairs: loc*SKUs + sku.
func (w *World) Series(loc, sku int) int { return loc*w.cfg.SKUs + sku }

type countryInfo struct {
	code       string
	currency   string
	fxPermille int64 // local price per USD × 1000
	sundayShut bool
}

var countries = []countryInfo{
	{"US", "USD", 1000, false},
	{"GB", "GBP", 790, false},
	{"DE", "EUR", 920, true},
	{"FR", "EUR", 920, false},
	{"ES", "EUR", 920, false},
}

type zoneInfo struct {
	zone         string
	country      int
	stdBP, redBP int64
}

// storeZones are assigned to stores in turn, alternating US and Europe.
var storeZones = []zoneInfo{
	{"America/New_York", 0, 888, 0},
	{"Europe/Berlin", 2, 1900, 700},
	{"America/Chicago", 0, 1025, 225},
	{"Europe/London", 1, 2000, 0},
	{"America/Los_Angeles", 0, 950, 0},
	{"Europe/Paris", 3, 2000, 550},
	{"America/Denver", 0, 881, 0},
	{"Europe/Madrid", 4, 2100, 1000},
}

var dcZones = []zoneInfo{
	{"America/Chicago", 0, 0, 0},
	{"Europe/Berlin", 2, 0, 0},
	{"America/New_York", 0, 0, 0},
	{"Europe/Paris", 3, 0, 0},
}

type storeSize struct {
	name      string
	factor    float64
	registers int
	open      int
	close     int
	weight    int
}

var storeSizes = []storeSize{
	{"small", 0.5, 2, 8, 20, 3},
	{"medium", 1.0, 4, 8, 21, 4},
	{"large", 1.6, 6, 7, 22, 2},
	{"xl", 2.4, 9, 7, 22, 1},
}

// Stream identifiers for PCG seeding of world construction.
const (
	streamStore uint64 = 0x51_0000_0000 + iota
	streamItem
	streamSupplier
)

func pcg(seed, stream, index uint64) *rand.Rand {
	return rand.New(rand.NewPCG(mix64(seed^stream), mix64(stream*0x9e3779b97f4a7c15+index)))
}

func idWidth(n, minWidth int) int {
	w := len(fmt.Sprint(n))
	return max(w, minWidth)
}

func (w *World) buildLocations() error {
	zones := map[string]*time.Location{}
	load := func(name string) (*time.Location, error) {
		if z, ok := zones[name]; ok {
			return z, nil
		}
		z, err := time.LoadLocation(name)
		if err != nil {
			return nil, fmt.Errorf("load time zone %s (import time/tzdata in the binary): %w", name, err)
		}
		zones[name] = z
		return z, nil
	}
	sw := idWidth(w.cfg.Stores, 4)
	totalWeight := 0
	for _, s := range storeSizes {
		totalWeight += s.weight
	}
	for i := range w.cfg.Stores {
		r := pcg(w.cfg.Seed, streamStore, uint64(i))
		z := storeZones[i%len(storeZones)]
		tz, err := load(z.zone)
		if err != nil {
			return err
		}
		pick := r.IntN(totalWeight)
		var sz storeSize
		for _, s := range storeSizes {
			if pick < s.weight {
				sz = s
				break
			}
			pick -= s.weight
		}
		c := countries[z.country]
		w.locs = append(w.locs, Location{
			Index: i, ID: fmt.Sprintf("S%0*d", sw, i+1), Kind: KindStore,
			Zone: z.zone, TZ: tz, Country: c.code, Currency: c.currency,
			Size: sz.name, SizeFactor: sz.factor * (0.85 + 0.3*r.Float64()),
			Registers: sz.registers, OpenHour: sz.open, CloseHour: sz.close,
			TaxStandardBP: z.stdBP, TaxReducedBP: z.redBP, country: z.country,
		})
	}
	for j := range w.cfg.DCs {
		z := dcZones[j%len(dcZones)]
		tz, err := load(z.zone)
		if err != nil {
			return err
		}
		c := countries[z.country]
		w.locs = append(w.locs, Location{
			Index: w.cfg.Stores + j, ID: fmt.Sprintf("DC%02d", j+1), Kind: KindDC,
			Zone: z.zone, TZ: tz, Country: c.code, Currency: c.currency,
			Size: "dc", SizeFactor: 3, OpenHour: 6, CloseHour: 22, country: z.country,
		})
	}
	return nil
}

var supplierNames = []string{
	"Northwind Foods", "Bluebird Distribution", "Harvest Lane Co", "Silver Oak Supply",
	"Kestrel Brands", "Marigold Wholesale", "Acme Consumer Goods", "Sunny Acres Farms",
	"Pioneer Household", "Lakeside Imports", "Granite Peak Trading", "Riverbend Partners",
}

func (w *World) buildSuppliers() {
	n := min(max(w.cfg.SKUs/25, 3), 60)
	if n > w.cfg.SKUs {
		n = max(w.cfg.SKUs, 1)
	}
	for i := range n {
		r := pcg(w.cfg.Seed, streamSupplier, uint64(i))
		mean := 2 + 10*r.Float64()*r.Float64() + r.Float64()*2 // mostly short, some long
		name := supplierNames[i%len(supplierNames)]
		if i >= len(supplierNames) {
			name = fmt.Sprintf("%s %d", name, i/len(supplierNames)+1)
		}
		w.suppliers = append(w.suppliers, Supplier{
			Index: i, ID: fmt.Sprintf("SUP%03d", i+1), Name: name,
			LeadMean: mean, LeadCV: 0.1 + 0.35*r.Float64(), LateProb: 0.02 + 0.06*r.Float64(),
			LeadTimeDays: max(1, int(math.Round(mean))),
		})
	}
}

func (w *World) buildItems() {
	width := idWidth(w.cfg.SKUs, 6)
	lineCount := make([]int, len(w.suppliers))
	w.lineNo = make([]int, w.cfg.SKUs)
	for i := range w.cfg.SKUs {
		r := pcg(w.cfg.Seed, streamItem, uint64(i))
		ci := r.IntN(len(categories))
		c := &categories[ci]
		// Profile by the category's weights.
		var prof Profile
		u := r.Float64()
		switch {
		case u < c.fast:
			prof = Fast
		case u < c.fast+c.slow:
			prof = Slow
		default:
			prof = Intermittent
		}
		it := Item{
			Index: i, ID: fmt.Sprintf("SKU%0*d", width, i+1),
			Category: c.name, Department: c.dept, Profile: prof, cat: ci,
			CostRatioBP: 4500 + int64(r.IntN(2500)),
		}
		brand := brands[r.IntN(len(brands))]
		noun := c.nouns[r.IntN(len(c.nouns))]
		size := c.sizes[r.IntN(len(c.sizes))]
		it.Description = brand + " " + noun + " " + size
		// Price: log-uniform in the category's range, ending in 9.
		lo, hi := math.Log(float64(c.priceLo)), math.Log(float64(c.priceHi))
		p := int64(math.Exp(lo + (hi-lo)*r.Float64()))
		it.PriceUSDCents = max((p+5)/10*10-1, 49)
		switch prof {
		case Fast:
			it.Base = 2 + 10*r.Float64()*r.Float64()
			it.CasePack = []int{6, 12, 12, 24}[r.IntN(4)]
		case Slow:
			it.Base = 0.3 + 1.7*r.Float64()
			it.CasePack = []int{1, 2, 4, 6}[r.IntN(4)]
		case Intermittent:
			it.Base = 0.04 + 0.25*r.Float64()
			it.LumpSize = 1.5 + 3.5*r.Float64()
			it.CasePack = []int{1, 1, 2}[r.IntN(3)]
		}
		it.Supplier = int(mix64(w.cfg.Seed^uint64(i)*0x2545f4914f6cdd1d) % uint64(len(w.suppliers)))
		lineCount[it.Supplier]++
		w.lineNo[i] = lineCount[it.Supplier]
		it.Promotions = w.promotions(r, &it)
		w.items = append(w.items, it)
	}
}

// promotions draws an item's chain-wide promotion calendar over the world's days.
func (w *World) promotions(r *rand.Rand, it *Item) []Promotion {
	var eligible float64
	switch it.Profile {
	case Fast:
		eligible = 0.6
	case Slow:
		eligible = 0.35
	default:
		eligible = 0.1
	}
	if r.Float64() >= eligible {
		return nil
	}
	// The calendar runs PromotionNoticeDays past the world's last day: on
	// its last days the ERP has already published what comes next, and a
	// forecast as of the day after the world knows it.
	var ps []Promotion
	day := 3 + r.IntN(40)
	for n := 1; day < w.cfg.Days+PromotionNoticeDays; n++ {
		length := 3 + r.IntN(5)
		pct := []int64{10, 15, 20, 25, 30, 33}[r.IntN(6)]
		lift := 1 + float64(pct)/100*(3+5*r.Float64())
		ps = append(ps, Promotion{
			ID:    fmt.Sprintf("PR-%s-%02d", it.ID[3:], n),
			Start: day, End: day + length, DiscountPct: pct, Lift: lift,
		})
		day += length + 21 + r.IntN(50)
	}
	return ps
}

// LineNo returns the purchase-order line number of sku: its position in its
// supplier's list (a PO holds one supplier's SKUs for one location, at most
// one line per SKU).
func (w *World) LineNo(sku int) int { return w.lineNo[sku] }
