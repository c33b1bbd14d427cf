package world

import (
	"math"
	"time"

	"github.com/shelflake/shelflake/schema"
)

type category struct {
	dept, name string
	// fast and slow are the shares of fast and slow movers; the rest are
	// intermittent.
	fast, slow float64
	// priceLo and priceHi bound the USD shelf price in cents.
	priceLo, priceHi int64
	reducedTax       bool
	weekdays         *[7]float64 // demand by weekday, Sunday first; mean 1
	// seasonAmp and seasonPeak shape the yearly cycle: 1 + amp·cos(2π(doy−peak)/365.25).
	seasonAmp  float64
	seasonPeak int
	nouns      []string
	sizes      []string
}

var (
	groceryWeek = [7]float64{0.85, 0.9, 0.85, 0.9, 1.0, 1.2, 1.3}
	generalWeek = [7]float64{1.15, 0.8, 0.8, 0.85, 0.9, 1.1, 1.4}
	dcWeek      = [7]float64{0.6, 1.2, 1.15, 1.1, 1.05, 1.0, 0.9}
)

var categories = []category{
	{"Grocery", "Dairy", 0.55, 0.35, 99, 699, true, &groceryWeek, 0.04, 200,
		[]string{"Whole Milk", "Greek Yogurt", "Cheddar Cheese", "Salted Butter", "Cream Cheese", "Oat Drink"}, []string{"500g", "1L", "2L", "250g", "6-pack"}},
	{"Grocery", "Bakery", 0.5, 0.4, 129, 599, true, &groceryWeek, 0.03, 340,
		[]string{"Sourdough Loaf", "Croissants", "Bagels", "Rye Bread", "Muffins"}, []string{"4-pack", "800g", "6-pack", "400g"}},
	{"Grocery", "Produce", 0.6, 0.35, 79, 599, true, &groceryWeek, 0.12, 190,
		[]string{"Bananas", "Gala Apples", "Baby Spinach", "Vine Tomatoes", "Avocados", "Blueberries"}, []string{"1kg", "500g", "bag", "punnet"}},
	{"Grocery", "Beverages", 0.45, 0.4, 99, 1599, false, &groceryWeek, 0.25, 200,
		[]string{"Sparkling Water", "Orange Juice", "Cola", "Iced Tea", "Ground Coffee", "Green Tea"}, []string{"1.5L", "12-pack", "500g", "1L", "20 bags"}},
	{"Grocery", "Snacks", 0.35, 0.45, 99, 899, false, &groceryWeek, 0.08, 350,
		[]string{"Sea Salt Crisps", "Dark Chocolate", "Trail Mix", "Pretzels", "Granola Bars"}, []string{"150g", "100g", "6-pack", "300g"}},
	{"Grocery", "Frozen", 0.3, 0.5, 199, 1299, true, &groceryWeek, 0.15, 205,
		[]string{"Vanilla Ice Cream", "Garden Peas", "Margherita Pizza", "Fish Fingers"}, []string{"1L", "1kg", "400g", "10-pack"}},
	{"Household", "Cleaning", 0.2, 0.5, 199, 1499, false, &groceryWeek, 0.05, 100,
		[]string{"Dish Soap", "Laundry Detergent", "Surface Spray", "Sponges"}, []string{"750ml", "2L", "3-pack", "40 loads"}},
	{"Household", "Paper Goods", 0.3, 0.5, 299, 2299, false, &groceryWeek, 0.03, 20,
		[]string{"Toilet Tissue", "Kitchen Towels", "Facial Tissues", "Napkins"}, []string{"9-roll", "4-roll", "3-pack", "100ct"}},
	{"Health & Beauty", "Personal Care", 0.15, 0.45, 199, 2499, false, &generalWeek, 0.05, 180,
		[]string{"Shampoo", "Toothpaste", "Body Wash", "Deodorant", "Hand Cream"}, []string{"250ml", "75ml", "400ml", "50ml"}},
	{"Health & Beauty", "Pharmacy", 0.1, 0.45, 299, 2999, false, &generalWeek, 0.2, 20,
		[]string{"Cold & Flu Relief", "Vitamin C", "Ibuprofen", "Plasters"}, []string{"16 tabs", "60ct", "24 caps", "20ct"}},
	{"General Merchandise", "Garden", 0.05, 0.35, 299, 7999, false, &generalWeek, 0.6, 130,
		[]string{"Potting Soil", "Hose Nozzle", "Seed Mix", "Pruning Shears", "Planter"}, []string{"40L", "set", "1kg", "30cm"}},
	{"General Merchandise", "Toys", 0.05, 0.35, 499, 9999, false, &generalWeek, 0.35, 350,
		[]string{"Building Blocks", "Puzzle", "Plush Bear", "Card Game", "Toy Car"}, []string{"500pc", "1000pc", "30cm", "set"}},
	{"General Merchandise", "Electronics", 0.02, 0.28, 999, 19999, false, &generalWeek, 0.2, 345,
		[]string{"USB-C Cable", "Wireless Earbuds", "Power Bank", "Phone Case", "LED Bulb"}, []string{"1m", "10000mAh", "2-pack", "single"}},
	{"General Merchandise", "Seasonal", 0.05, 0.3, 299, 4999, false, &generalWeek, 0.5, 340,
		[]string{"Candle", "Gift Wrap", "Decor Lights", "Picnic Blanket"}, []string{"large", "3-roll", "10m", "single"}},
}

var brands = []string{
	"Northfield", "Bluebird", "Harvest Lane", "Acme", "Silver Oak", "Sunny Acres",
	"Kestrel", "Marigold", "Pioneer", "Lakeside", "Granite Peak", "Riverbend",
}

// calendar index of a location: country × {store, dc}.
func (l *Location) cal() int {
	if l.Kind == KindDC {
		return l.country*2 + 1
	}
	return l.country * 2
}

// buildCalendar fills w.mult[cal][category][day] with weekday × yearly season ×
// holiday multipliers, 0 on closed days.
func (w *World) buildCalendar() {
	w.mult = make([][][]float32, len(countries)*2)
	for ci := range countries {
		for kind := range 2 {
			dc := kind == 1
			cal := make([][]float32, len(categories))
			for k := range categories {
				c := &categories[k]
				row := make([]float32, w.cfg.Days)
				for day := range w.cfg.Days {
					date := w.cfg.Start.AddDays(day)
					t := date.Time()
					wd := t.Weekday()
					h, closed := holiday(ci, date, dc)
					if closed || (!dc && countries[ci].sundayShut && wd == time.Sunday) {
						continue // 0: closed
					}
					week := c.weekdays[wd]
					if dc {
						week = dcWeek[wd]
					}
					doy := float64(t.YearDay())
					season := 1 + c.seasonAmp*math.Cos(2*math.Pi*(doy-float64(c.seasonPeak))/365.25)
					row[day] = float32(week * season * h)
				}
				cal[k] = row
			}
			w.mult[ci*2+kind] = cal
		}
	}
}

// easter returns Easter Sunday of year y (Gregorian; anonymous algorithm).
func easter(y int) schema.Date {
	a := y % 19
	b, c := y/100, y%100
	d, e := b/4, b%4
	f := (b + 8) / 25
	g := (b - f + 1) / 3
	h := (19*a + b - d - g + 15) % 30
	i, k := c/4, c%4
	l := (32 + 2*e + 2*i - h - k) % 7
	m := (a + 11*h + 22*l) / 451
	month := (h + l - 7*m + 114) / 31
	day := (h+l-7*m+114)%31 + 1
	return schema.NewDate(y, time.Month(month), day)
}

// nthWeekday returns the n-th (1-based; n<0 counts from the month's end)
// weekday wd of month m in year y.
func nthWeekday(y int, m time.Month, wd time.Weekday, n int) schema.Date {
	if n > 0 {
		first := schema.NewDate(y, m, 1)
		off := (int(wd) - int(first.Weekday()) + 7) % 7
		return first.AddDays(off + 7*(n-1))
	}
	last := schema.NewDate(y, m+1, 1).AddDays(-1)
	off := (int(last.Weekday()) - int(wd) + 7) % 7
	return last.AddDays(-off - 7*(-n-1))
}

// holiday returns the demand multiplier of date in country ci and whether
// locations there are closed. DCs close only on Christmas and New Year's Day
// and see no holiday effects.
func holiday(ci int, date schema.Date, dc bool) (float64, bool) {
	t := date.Time()
	y, mon, day := t.Date()
	md := int(mon)*100 + day
	if dc {
		return 1, md == 1225 || md == 101
	}
	e := easter(y)
	rel := int(date - e) // days after Easter Sunday
	mult := 1.0
	// Christmas shopping ramp, every country.
	if md >= 1210 && md <= 1223 {
		mult = 1 + 0.04*float64(day-9)
	}
	switch countries[ci].code {
	case "US":
		thanks := nthWeekday(y, time.November, time.Thursday, 4)
		switch {
		case date == thanks, md == 1225:
			return 0, true
		case date == thanks-1:
			return 1.5, false
		case date == thanks+1:
			return 2.0, false
		case date == thanks+2:
			return 1.3, false
		case md == 101:
			return 0.6, false
		case rel == 0:
			return 0.6, false
		case rel == -1:
			return 1.2, false
		case date == nthWeekday(y, time.May, time.Monday, -1):
			return 1.2, false
		case date == nthWeekday(y, time.September, time.Monday, 1):
			return 1.15, false
		case md == 703:
			return 1.3, false
		case md == 704:
			return 0.7, false
		case md == 1224:
			return 1.3, false
		case md == 1226, md == 1231:
			return 1.2, false
		}
	case "GB":
		switch {
		case md == 101, md == 1225, rel == 0:
			return 0, true
		case rel == -2:
			return 1.1, false
		case rel == 1:
			return 1.2, false
		case md == 1226:
			return 1.8, false
		case md == 1224:
			return 1.3, false
		}
	case "DE":
		switch {
		case md == 101, md == 501, md == 1003, md == 1225, md == 1226,
			rel == -2, rel == 0, rel == 1, rel == 39, rel == 50:
			return 0, true
		case rel == -1:
			return 1.4, false
		case md == 1224:
			return 1.3, false
		case md == 1231:
			return 1.2, false
		}
	case "FR":
		switch {
		case md == 101, md == 501, md == 1225:
			return 0, true
		case rel == 1, md == 815, md == 1101:
			return 0.7, false
		case md == 508, md == 1111:
			return 0.8, false
		case md == 714:
			return 0.6, false
		case md == 1224:
			return 1.3, false
		}
	case "ES":
		switch {
		case md == 101, md == 106, md == 501, md == 1225, rel == -2:
			return 0, true
		case md == 105:
			return 1.6, false
		case md == 815, md == 1012:
			return 0.7, false
		case md == 1208:
			return 0.8, false
		case md == 1224:
			return 1.3, false
		}
	}
	return mult, false
}
