// Command shelflake turns a retailer's live POS and ERP feeds into a Delta Lake
// and sends replenishment suggestions back to the ERP. One binary, subcommands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/shelflake/shelflake/ingest"
	"github.com/shelflake/shelflake/lake/objstore"
	"golang.org/x/term"
)

func main() {
	// Before the heap grows: pages faulted before this may already be huge.
	_ = disableHugePages()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCmd(os.Stdout, os.Stderr).ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "shelflake:", causeFirst(err))
		if errors.Is(err, context.Canceled) {
			os.Exit(130)
		}
		os.Exit(1)
	}
}

// app holds what every subcommand shares: where to write, and the logger.
type app struct {
	stdout, stderr io.Writer
	logLevel       string
	logFormat      string
	log            *slog.Logger
	// stderrTerminal, when set, says whether stderr is a terminal instead of
	// asking the OS (tests).
	stderrTerminal func() bool
}

// stderrIsTerminal reports whether a.stderr is a terminal: progress bars go
// there, and the demo then writes its logs to a file.
func (a *app) stderrIsTerminal() bool {
	if a.stderrTerminal != nil {
		return a.stderrTerminal()
	}
	return isTerminal(a.stderr)
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	return newRoot(&app{stdout: stdout, stderr: stderr})
}

// newRoot is the root command of app a.
func newRoot(a *app) *cobra.Command {
	stdout, stderr := a.stdout, a.stderr
	root := &cobra.Command{
		Use:   "shelflake",
		Short: "Retail POS and ERP feeds into a Delta lake, and replenishment back to the ERP",
		Long: `shelflake streams point-of-sale transactions and ERP snapshots from Kafka into
Delta Lake tables on S3 or a local directory, exactly once, compacts them into
the tables analysts and planners use, forecasts demand and suggests purchase orders.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			l, err := newLogger(a.stderr, a.logLevel, a.logFormat)
			if err != nil {
				return err
			}
			a.log = l
			return nil
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&a.logLevel, "log-level", envOr("SHELFLAKE_LOG_LEVEL", "info"), "log level: debug, info, warn, error (env SHELFLAKE_LOG_LEVEL)")
	pf.StringVar(&a.logFormat, "log-format", envOr("SHELFLAKE_LOG_FORMAT", "text"), "log format: text or json (env SHELFLAKE_LOG_FORMAT)")
	root.AddCommand(
		newBrokerCmd(a),
		newHealthcheckCmd(a),
		newGenCmd(a),
		newImportCmd(a),
		newDemoCmd(a),
		newIngestCmd(a),
		newRejectsCmd(a),
		newSQLCmd(a),
		newServeCmd(a),
		newReportCmd(a),
		newCompactCmd(a),
		newVacuumCmd(a),
		newForecastCmd(a),
		newReconcileCmd(a),
		newWritebackCmd(a),
		newBenchCmd(a),
		newIcebergCmd(a),
	)
	acceptOldFlagNames(root)
	return root
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
}

// envOr returns the environment variable name, or def when it is unset or empty.
// Flags use it for their defaults, so the environment is a fallback and an
// explicit flag always wins.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// isTerminal reports whether w is a terminal (progress bars go there; logs
// go everywhere else).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// causeFirst is the message of err for a person: when the cause is a thing
// that could not be reached at all, that cause alone (which operation ran
// into it adds nothing the person can act on).
func causeFirst(err error) error {
	var ue *objstore.UnreachableError
	if errors.As(err, &ue) {
		return ue
	}
	var ke *ingest.UnreachableError
	if errors.As(err, &ke) {
		return ke
	}
	return err
}
