package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

func newHealthcheckCmd(a *app) *cobra.Command {
	var url string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Probe a shelflake service's /healthz (for container HEALTHCHECKs: the image has no curl)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return probeHealth(cmd.Context(), url, timeout)
		},
	}
	def := "http://127.0.0.1:9464/healthz"
	if addr := envOr("SHELFLAKE_HTTP", ""); addr != "" {
		if _, port, err := net.SplitHostPort(addr); err == nil {
			def = "http://127.0.0.1:" + port + "/healthz"
		}
	}
	cmd.Flags().StringVar(&url, "url", def, "health endpoint to GET (default: the port of SHELFLAKE_HTTP, else 9464)")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "how long to wait for the answer")
	return cmd
}

// probeHealth GETs url and succeeds on a 2xx answer.
func probeHealth(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("healthcheck %s: %s", url, resp.Status)
	}
	return nil
}
