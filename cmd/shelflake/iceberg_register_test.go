package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/shelflake/shelflake/schema"
)

// fakeRESTCatalog is an Iceberg REST catalog built from the published
// OpenAPI spec (rest-catalog-open-api.yaml), for the endpoints register
// uses: GET /v1/config, POST /v1/{prefix}/namespaces, POST
// /v1/{prefix}/namespaces/{namespace}/register. It rejects what a real one
// rejects: a missing bearer token (401), a malformed body or a missing
// required field (400), an unknown namespace (404), a second registration
// of a name (409), and a metadata file it cannot read or that lacks a
// field the table spec requires (400). failNext makes the next register
// fail with 503.
type fakeRESTCatalog struct {
	token  string
	prefix string

	mu         sync.Mutex
	namespaces map[string]bool
	tables     map[string]string // "ns.name" → metadata-location
	failNext   bool
}

func restErr(w http.ResponseWriter, code int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": code}})
}

// requiredMetadataFields are the table metadata fields the Iceberg spec
// requires in format version 2.
var requiredMetadataFields = []string{
	"format-version", "table-uuid", "location", "last-sequence-number", "last-updated-ms",
	"last-column-id", "schemas", "current-schema-id", "partition-specs", "default-spec-id",
	"last-partition-id", "sort-orders", "default-sort-order-id",
}

func (c *fakeRESTCatalog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+c.token {
		restErr(w, 401, "NotAuthorizedException", "missing or wrong bearer token")
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	path := r.URL.EscapedPath()
	switch {
	case r.Method == http.MethodGet && path == "/v1/config":
		_ = json.NewEncoder(w).Encode(map[string]any{"defaults": map[string]string{}, "overrides": map[string]string{"prefix": c.prefix}})
	case r.Method == http.MethodPost && path == "/v1/"+c.prefix+"/namespaces":
		var req struct {
			Namespace  []string          `json:"namespace"`
			Properties map[string]string `json:"properties"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Namespace) == 0 {
			restErr(w, 400, "BadRequestException", "namespace is required")
			return
		}
		ns := strings.Join(req.Namespace, "\x1f")
		if c.namespaces[ns] {
			restErr(w, 409, "AlreadyExistsException", "Namespace already exists: "+ns)
			return
		}
		c.namespaces[ns] = true
		_ = json.NewEncoder(w).Encode(map[string]any{"namespace": req.Namespace, "properties": req.Properties})
	case r.Method == http.MethodPost && strings.HasPrefix(path, "/v1/"+c.prefix+"/namespaces/") && strings.HasSuffix(path, "/register"):
		nsEsc := strings.TrimSuffix(strings.TrimPrefix(path, "/v1/"+c.prefix+"/namespaces/"), "/register")
		ns, err := url.PathUnescape(nsEsc)
		if err != nil || !c.namespaces[ns] {
			restErr(w, 404, "NoSuchNamespaceException", "Namespace does not exist: "+nsEsc)
			return
		}
		var req map[string]any
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			restErr(w, 400, "BadRequestException", "malformed request: "+err.Error())
			return
		}
		for k := range req {
			if k != "name" && k != "metadata-location" && k != "overwrite" {
				restErr(w, 400, "BadRequestException", "unknown field "+k)
				return
			}
		}
		name, _ := req["name"].(string)
		loc, _ := req["metadata-location"].(string)
		overwrite, _ := req["overwrite"].(bool)
		if name == "" || loc == "" {
			restErr(w, 400, "BadRequestException", "name and metadata-location are required")
			return
		}
		if c.failNext {
			c.failNext = false
			restErr(w, 503, "ServiceUnavailableException", "slow down")
			return
		}
		key := ns + "." + name
		if _, ok := c.tables[key]; ok && !overwrite {
			restErr(w, 409, "AlreadyExistsException", "Table already exists: "+key)
			return
		}
		raw, err := os.ReadFile(strings.TrimPrefix(loc, "file://"))
		if err != nil {
			restErr(w, 400, "BadRequestException", "cannot read metadata: "+err.Error())
			return
		}
		var md map[string]json.RawMessage
		if err := json.Unmarshal(raw, &md); err != nil {
			restErr(w, 400, "BadRequestException", "metadata is not JSON: "+err.Error())
			return
		}
		for _, f := range requiredMetadataFields {
			if _, ok := md[f]; !ok {
				restErr(w, 400, "BadRequestException", "metadata lacks required field "+f)
				return
			}
		}
		c.tables[key] = loc
		_ = json.NewEncoder(w).Encode(map[string]any{"metadata-location": loc, "metadata": json.RawMessage(raw), "config": map[string]string{}})
	default:
		restErr(w, 404, "NotFoundException", r.Method+" "+path)
	}
}

func TestIcebergRegisterWithARESTCatalog(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	appendPOS(t, dir, schema.NewDate(2026, 3, 1), 30, 10)
	cat := &fakeRESTCatalog{token: "s3cret", prefix: "wh", namespaces: map[string]bool{}, tables: map[string]string{}}
	srv := httptest.NewServer(cat)
	defer srv.Close()
	args := []string{"iceberg", "register", "--lake", dir, "--catalog", srv.URL, "--token", "s3cret", "--namespace", "retail"}

	if _, err := runCLI(t, ctx, args...); err == nil || !strings.Contains(err.Error(), "iceberg sync") {
		t.Fatalf("register before sync: %v, want an error pointing at iceberg sync", err)
	}
	if out, err := runCLI(t, ctx, "iceberg", "sync", "--lake", dir); err != nil {
		t.Fatalf("sync: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		name    string
		args    []string
		fail    bool
		want    string
		wantErr string
	}{
		{"wrong token", append(args[:len(args):len(args)], "--token", "nope"), false, "", "401 NotAuthorizedException"},
		{"catalog failure", args, true, "", "503 ServiceUnavailableException: slow down"},
		{"registers", args, false, "pos_lines                    registered file://", ""},
		{"again", args, false, "pos_lines                    already registered", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cat.mu.Lock()
			cat.failNext = tc.fail
			cat.mu.Unlock()
			out, err := runCLI(t, ctx, tc.args...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !strings.Contains(out, tc.want) {
				t.Fatalf("err %v, output:\n%s\nwant %q", err, out, tc.want)
			}
		})
	}
	cat.mu.Lock()
	defer cat.mu.Unlock()
	if loc := cat.tables["retail.pos_lines"]; !strings.HasSuffix(loc, "/pos_lines/metadata/v1.metadata.json") {
		t.Errorf("catalog points pos_lines at %q", loc)
	}
	if got := fmt.Sprint(len(cat.tables)); got != "1" {
		t.Errorf("%s tables registered, want only pos_lines (the lake's one table): %v", got, cat.tables)
	}
}
