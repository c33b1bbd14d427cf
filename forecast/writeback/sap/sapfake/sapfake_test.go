package sapfake_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"

	"github.com/shelflake/shelflake/forecast/writeback/sap/sapfake"
)

const valid = `{"PurchaseRequisitionType":"NB","PurReqnDescription":"SL 0123456789abcdef0123456789abcdef","to_PurchaseReqnItem":{"results":[{"PurchaseRequisitionItem":"10","Material":"TG11","Plant":"1010","RequestedQuantity":"6","BaseUnit":"EA","PurchaseRequisitionPrice":"12.50","PurReqnItemCurrency":"EUR","DeliveryDate":"/Date(1772668800000)/","FixedSupplier":"0017300000","PurchasingGroup":"001"}]}}`

func TestTheFakeRefusesWhatSAPRefuses(t *testing.T) {
	erp := sapfake.New(sapfake.Options{Materials: []string{"TG11"}, Plants: []string{"1010"}, Suppliers: []string{"0017300000"}})
	defer erp.Close()
	jar, _ := cookiejar.New(nil)
	cl := &http.Client{Jar: jar}
	defer cl.CloseIdleConnections()
	o := erp.Options()
	do := func(method, path, csrf, body string) (int, http.Header, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), method, erp.URL+sapfake.ServicePath+path, strings.NewReader(body))
		req.SetBasicAuth(o.Username, o.Password)
		req.Header.Set("x-csrf-token", csrf)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Repeatability-Request-ID", "0b7e5a2c-1111-4222-8333-444455556666")
		req.Header.Set("Repeatability-First-Sent", "Mon, 02 Mar 2026 08:00:00 GMT")
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	if code, h, body := do("POST", "/A_PurchaseRequisitionHeader", "", valid); code != 403 || h.Get("x-csrf-token") != "Required" || body != "CSRF token validation failed" {
		t.Fatalf("POST without a CSRF token: %d %q %q", code, h.Get("x-csrf-token"), body)
	}
	_, h, _ := do("GET", "/", "Fetch", "")
	tok := h.Get("x-csrf-token")
	if tok == "" {
		t.Fatal("no CSRF token fetched")
	}
	for _, tc := range []struct {
		name, from, to string
		code           int
		want           string
	}{
		{"decimal as a number", `"RequestedQuantity":"6"`, `"RequestedQuantity":6`, 400, "Failed to read property 'RequestedQuantity'"},
		{"date as ISO text", `"/Date(1772668800000)/"`, `"2026-03-05"`, 400, "Failed to read property 'DeliveryDate'"},
		{"unknown property", `"Plant":`, `"Werk":"1010","Plant":`, 400, "Property 'Werk' is invalid"},
		{"missing delivery date", `,"DeliveryDate":"/Date(1772668800000)/"`, ``, 400, "enter DeliveryDate"},
		{"description too long", `"SL 0123`, `"SHELFLAKE SUGGESTION 0123`, 400, "longer than 40"},
		{"unknown plant", `"Plant":"1010"`, `"Plant":"9999"`, 400, "Plant 9999 does not exist"},
		{"valid", ``, ``, 201, `"PurchaseRequisition":"0010000001"`},
		{"the same request again: replayed", ``, ``, 201, `"PurchaseRequisition":"0010000001"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := do("POST", "/A_PurchaseRequisitionHeader", tok, strings.Replace(valid, tc.from, tc.to, 1))
			if code != tc.code || !strings.Contains(body, tc.want) {
				t.Errorf("%d %s: want %d with %q", code, body, tc.code, tc.want)
			}
		})
	}
	if erp.Replays() != 1 || len(erp.Held()) != 1 {
		t.Errorf("%d replays, %d held", erp.Replays(), len(erp.Held()))
	}
}
