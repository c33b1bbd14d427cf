package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/lake/iceberg"
)

type icebergRegisterFlags struct {
	lake      string
	catalog   string
	namespace string
	warehouse string
	token     string
	overwrite bool
}

func newIcebergRegisterCmd(a *app) *cobra.Command {
	var o icebergRegisterFlags
	cmd := &cobra.Command{
		Use:   "register",
		Short: "Register every table's current Iceberg metadata with an Iceberg REST catalog",
		Long: `register points an Iceberg REST catalog (Polaris, Nessie, Gravitino, Lakekeeper,
Unity, Glue's REST endpoint, ...) at each table's latest metadata file
(POST /v1/{prefix}/namespaces/{namespace}/register), creating the namespace
when missing. A catalog entry is a pointer to one metadata file: run register
again (with --overwrite, where the catalog supports it) to move it to the
newest snapshot, or query the metadata location directly.`,
		Example: `  shelflake iceberg register --lake s3://bucket/lake --catalog https://polaris:8181/api/catalog --warehouse lake --namespace shelflake`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.lake == "" {
				return errors.New("--lake is required (or SHELFLAKE_LAKE)")
			}
			if o.catalog == "" {
				return errors.New("--catalog is required: the REST catalog's base URL (its /v1/config is under it)")
			}
			return runIcebergRegister(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.lake, "lake", envOr("SHELFLAKE_LAKE", ""), "lake URI: a directory or s3://bucket/prefix (env SHELFLAKE_LAKE)")
	f.StringVar(&o.catalog, "catalog", envOr("SHELFLAKE_ICEBERG_CATALOG", ""), "Iceberg REST catalog base URL (env SHELFLAKE_ICEBERG_CATALOG)")
	f.StringVar(&o.namespace, "namespace", "shelflake", "namespace to register the tables in")
	f.StringVar(&o.warehouse, "warehouse", "", "warehouse passed to the catalog's /v1/config (optional)")
	f.StringVar(&o.token, "token", envOr("SHELFLAKE_ICEBERG_TOKEN", ""), "bearer token for the catalog (env SHELFLAKE_ICEBERG_TOKEN)")
	f.BoolVar(&o.overwrite, "overwrite", false, "re-point tables already registered (catalogs implementing the register overwrite flag)")
	return cmd
}

func runIcebergRegister(ctx context.Context, a *app, o icebergRegisterFlags) error {
	pub, err := icebergPublisher(o.lake, a.log, false, false)
	if err != nil {
		return err
	}
	l, err := openLake(ctx, o.lake, lake.Options{Logger: a.log, ReadOnly: true})
	if err != nil {
		return err
	}
	defer l.Close()
	c := &restCatalog{base: strings.TrimSuffix(o.catalog, "/"), token: o.token, http: &http.Client{Timeout: 30 * time.Second}}
	if err := c.config(ctx, o.warehouse); err != nil {
		return err
	}
	if err := c.createNamespace(ctx, o.namespace); err != nil {
		return err
	}
	tabs, err := existingTablesCtx(ctx, l)
	if err != nil {
		return err
	}
	n := 0
	for _, t := range tabs {
		v, found, err := iceberg.LatestVersion(ctx, l.Bucket(), t.dt.Prefix())
		if err != nil {
			return fmt.Errorf("table %s: %w", t.name, err)
		}
		if !found {
			fmt.Fprintf(a.stdout, "%-28s no Iceberg metadata (run shelflake iceberg sync first)\n", t.name)
			continue
		}
		loc := icebergMetadataURI(pub, t.dt, v)
		status, err := c.register(ctx, o.namespace, t.name, loc, o.overwrite)
		if err != nil {
			return fmt.Errorf("register %s.%s: %w", o.namespace, t.name, err)
		}
		fmt.Fprintf(a.stdout, "%-28s %s %s\n", t.name, status, loc)
		n++
	}
	if n == 0 {
		return errors.New("no table has Iceberg metadata: run shelflake iceberg sync --lake first")
	}
	return nil
}

// restCatalog speaks the Iceberg REST catalog protocol (the subset register
// needs).
type restCatalog struct {
	base   string
	prefix string
	token  string
	http   *http.Client
}

func (c *restCatalog) url(path string) string {
	if c.prefix != "" {
		return c.base + "/v1/" + url.PathEscape(c.prefix) + path
	}
	return c.base + "/v1" + path
}

// restError is the catalog's ErrorModel.
type restError struct {
	Error struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Code    int    `json:"code"`
	} `json:"error"`
}

func (c *restCatalog) do(ctx context.Context, method, u string, body any, out any) (int, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("iceberg catalog unreachable: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: %w", method, u, err)
	}
	if resp.StatusCode/100 != 2 {
		var e restError
		if json.Unmarshal(raw, &e) == nil && e.Error.Message != "" {
			return resp.StatusCode, fmt.Errorf("%s %s: %d %s: %s", method, u, resp.StatusCode, e.Error.Type, e.Error.Message)
		}
		return resp.StatusCode, fmt.Errorf("%s %s: %s", method, u, resp.Status)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: response: %w", method, u, err)
		}
	}
	return resp.StatusCode, nil
}

// config reads GET /v1/config for the catalog's prefix.
func (c *restCatalog) config(ctx context.Context, warehouse string) error {
	u := c.base + "/v1/config"
	if warehouse != "" {
		u += "?warehouse=" + url.QueryEscape(warehouse)
	}
	var cfg struct {
		Defaults  map[string]string `json:"defaults"`
		Overrides map[string]string `json:"overrides"`
	}
	if _, err := c.do(ctx, http.MethodGet, u, nil, &cfg); err != nil {
		return err
	}
	c.prefix = cfg.Overrides["prefix"]
	if c.prefix == "" {
		c.prefix = cfg.Defaults["prefix"]
	}
	return nil
}

func (c *restCatalog) createNamespace(ctx context.Context, ns string) error {
	status, err := c.do(ctx, http.MethodPost, c.url("/namespaces"), map[string]any{
		"namespace": strings.Split(ns, "."), "properties": map[string]string{},
	}, nil)
	if status == http.StatusConflict {
		return nil // exists
	}
	return err
}

func (c *restCatalog) register(ctx context.Context, ns, name, metadataLocation string, overwrite bool) (string, error) {
	body := map[string]any{"name": name, "metadata-location": metadataLocation}
	if overwrite {
		body["overwrite"] = true
	}
	var res struct {
		MetadataLocation string          `json:"metadata-location"`
		Metadata         json.RawMessage `json:"metadata"`
	}
	// Multi-level namespaces are joined with the unit separator (0x1F).
	path := "/namespaces/" + url.PathEscape(strings.ReplaceAll(ns, ".", "\x1f")) + "/register"
	status, err := c.do(ctx, http.MethodPost, c.url(path), body, &res)
	if status == http.StatusConflict && !overwrite {
		return "already registered", nil
	}
	if err != nil {
		return "", err
	}
	if res.MetadataLocation != metadataLocation {
		return "", fmt.Errorf("catalog answered metadata-location %q, want %q", res.MetadataLocation, metadataLocation)
	}
	return "registered", nil
}
