// Package importer turns a point-of-sale CSV export into shelflake's
// pos.transactions records, so real history can be fed to the lake through
// the same sinks `shelflake gen` uses (world.Sink: Kafka or JSONL).
//
// # Contract
//
// Import (or New then Run) reads one CSV export with a header row, a Mapping
// saying which columns hold what, and writes one pos.transactions record per
// transaction to a world.Sink, keyed by store_id, in input order. Every record
// it writes passes schema's strict decoder (schema.DecodePOS). Every data row
// of the input is accounted for exactly once: it either becomes one line of
// an emitted transaction or is rejected with one Reason, so
//
//	Counts.Rows == Counts.Lines + Σ Counts.Rejected
//
// always holds, and Options.Rejects, when set, receives every rejected row as
// one JSON line {"line":N,"reason":"…","detail":"…","row":[…fields…]} (N is
// the 1-based line of the input file, the header being line 1). Nothing is
// dropped silently.
//
// Input that cannot be imported at all (a mapped column missing from the
// header, an unreadable stream) is an *InputError naming the file, line and
// column and what to do; row-level dirt is never an error, it is a
// rejection.
//
// It streams: memory holds one transaction's lines, plus the set of invoice
// numbers already closed (to detect an invoice that comes back, see below),
// never the file; an export of daily totals holds its open store-days up to
// a bound (see Daily totals).
//
// # Grouping
//
// A transaction is a run of consecutive accepted rows (see below) with the
// same invoice number, store, customer and business date; its transaction_id
// is the invoice number. Rejected rows do not break a run. When an invoice
// comes back after another one started (the real file interleaves invoice
// 542806 with two others for a few rows), the later run becomes a second
// transaction with transaction_id "<invoice>#2" (then #3 ...), with its own
// lines: nothing is merged across runs, nothing is lost, and Counts.Split
// counts such runs. event_time is the first row's time; business_date is its
// local date in Mapping.TimeZone.
//
// # Rows and reasons
//
// A row is classified by the first rule that applies, in this order:
//
//	unparseable          wrong field count or CSV quoting; empty or bad invoice,
//	                     SKU, store, quantity, time or price (the detail names
//	                     the column and value)
//	bad_debt_adjustment  invoice starts with Mapping.AdjustmentPrefix ("A"):
//	                     accounting entries, not sales
//	non_merchandise      SKU does not match Mapping.Merchandise (postage, carriage,
//	                     manual lines, discounts, fees, samples, vouchers …):
//	                     money, not demand for a product
//	zero_quantity        quantity 0
//	stock_adjustment     negative quantity on an invoice that is not a return
//	                     (damaged, lost, found …): stock movements, not sales
//	positive_return      positive quantity on a return invoice
//	negative_price       unit price below zero
//	zero_price           unit price 0: nothing was charged, mostly stock
//	                     adjustments with no description or customer
//	out_of_range         |quantity| × price, or the transaction total, beyond
//	                     schema.MaxMoney
//	duplicate_row        every field equal to an earlier accepted row of the same
//	                     run (an export artefact); kept as an ordinary line
//	                     with Options.KeepDuplicates
//
// Accepted rows become lines: invoices starting with Mapping.ReturnPrefix
// ("C", cancellations) become return transactions with negative quantities
// and negative line totals (so they net out of demand: sales_daily counts
// them as units_returned); all others become sales. unit_price is the row's
// price (exact decimal, schema.Money), discount and tax 0, line_total = sign
// × |quantity| × unit_price, and one tender of type "other" pays the total.
// A blank customer id is omitted (it is optional). SKUs are kept exactly as
// written (case-sensitive).
//
// # Daily totals
//
// An export of daily totals per store and product has no invoices: with
// Mapping.Invoice empty a row's direction is its sign (a negative quantity
// is the day's returns, so the stock_adjustment and positive_return rules
// never apply), and a transaction gathers the accepted rows of one store,
// customer, business date and direction wherever they stand in the file
// (an export ordered by product, then day, still gives one record per
// store and day, not one per row), named
// "<store_id>-<date>-L<line of its first row>": unique in the file and the
// same on every import of it. A transaction is emitted when it reaches
// 1,000 lines (so that no record outgrows a broker's message size), and
// every open one when they hold Options.TotalsMemory (default 256 MiB) and
// at the end, by date: memory stays bounded, and a file larger than the
// bound gives more, smaller transactions, nothing lost. Duplicate rows are
// those repeating a row of the same transaction. Mapping.DefaultUnitPrice
// prices every line when there is no price column, Mapping.DefaultStore
// names the store of a one-store file. A row whose total is zero is
// rejected as zero_quantity (a day without sales is no line).
//
// # Separators
//
// Mapping.Delimiter sets the field separator (default ','). With
// Mapping.DecimalComma prices are written with a comma before the decimals
// and optional dots between groups of three digits (1.234,50); a price
// whose dots do not group thousands ("2.50") is unparseable rather than
// read as 250.
//
// # The online-retail preset
//
// Preset("online-retail") maps the UCI Online Retail export (InvoiceNo,
// StockCode, Description, Quantity, InvoiceDate, UnitPrice, CustomerID,
// Country): one store per Country, store_id the country's slug ("United
// Kingdom" → "united-kingdom"), register "web", currency GBP for all (the
// export is in pounds whatever the customer's country), InvoiceDate read as
// Europe/London wall time, merchandise = SKUs starting with five digits,
// return prefix "C", adjustment prefix "A". Description is not used (POS
// lines have no description) but stays in rejected rows.
package importer
