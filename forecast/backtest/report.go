package backtest

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// WriteMarkdown writes r as markdown tables: the mean WRMSSE over the
// origins per level and method with ours ÷ best simple and ours ÷ seasonal
// naive, then one line per origin (the bottom level's WRMSSE, the job's own
// recorded backtest RMSSE and the realised bias, over every day and over
// the days without a stockout).
func WriteMarkdown(w io.Writer, r *Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "WRMSSE, mean over %d origins (%s … %s), %d-day horizon; below 1 in the ratio columns: ours is better.\n\n",
		len(r.Origins), r.Origins[0].AsOf, r.Origins[len(r.Origins)-1].AsOf, r.Horizon)
	levelTable(&b, r.Methods, r.Mean)
	if len(r.MeanInStock) > 0 {
		b.WriteString("\nThe same with every method's forecast and the actual left out (set to 0) on the store-SKU days with a stockout: the days demand was seen whole.\n\n")
		levelTable(&b, r.Methods, r.MeanInStock)
	}
	b.WriteString("\n| origin | series | store_sku WRMSSE ours | best simple | job's backtest RMSSE (weighted) | bias ours | bias snaive | bias best | bias ours in stock | bias best in stock |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, o := range r.Origins {
		l, _ := o.Level(LevelStoreSKU)
		fmt.Fprintf(&b, "| %s | %d | %s | %s %s | %s | %s | %s | %s | %s | %s |\n", o.AsOf, o.Series, num(l.WRMSSE[Ours]),
			l.BestSimple, num(l.WRMSSE[l.BestSimple]), num(o.JobBacktestRMSSE), num(o.Bias[Ours]), num(o.Bias[SNaive]), num(o.Bias[l.BestSimple]),
			num(o.BiasInStock[Ours]), num(o.BiasInStock[l.BestSimple]))
	}
	fmt.Fprintf(&b, "\nMean bias (forecast ÷ actual units): ours %s, snaive %s; on the days without a stockout ours %s, snaive %s; the job's own backtest RMSSE averaged %s.\n",
		num(r.MeanBias[Ours]), num(r.MeanBias[SNaive]), num(r.MeanBiasInStock[Ours]), num(r.MeanBiasInStock[SNaive]), num(r.MeanJobBacktestRMSSE))
	_, err := io.WriteString(w, b.String())
	return err
}

// levelTable writes one row per level: its WRMSSE per method, the best
// simple method and ours ÷ best simple and ÷ seasonal naive.
func levelTable(b *strings.Builder, methods []string, levels []LevelScore) {
	b.WriteString("| level | series |")
	for _, m := range methods {
		fmt.Fprintf(b, " %s |", m)
	}
	b.WriteString(" best simple | ours ÷ best | ours ÷ snaive |\n|---|---:|")
	for range methods {
		b.WriteString("---:|")
	}
	b.WriteString("---|---:|---:|\n")
	for _, l := range levels {
		fmt.Fprintf(b, "| %s | %d |", l.Level, l.Series)
		for _, m := range methods {
			fmt.Fprintf(b, " %s |", num(l.WRMSSE[m]))
		}
		fmt.Fprintf(b, " %s | %s | %s |\n", l.BestSimple, num(l.VsBestSimple), num(l.VsSNaive))
	}
}

func num(s Score) string {
	f := float64(s)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "–"
	}
	return fmt.Sprintf("%.3f", f)
}
