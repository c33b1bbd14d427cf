package bcfake_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/shelflake/shelflake/forecast/writeback/bc/bcfake"
)

const valid = `{"vendorNumber":"V1","orderDate":"2026-03-02","requestedReceiptDate":"2026-03-05","currencyCode":"EUR","purchaseOrderLines":[{"sequence":10000,"lineType":"Comment","description":"shelflake 0123456789abcdef0123456789abcdef"},{"sequence":20000,"lineType":"Item","lineObjectNumber":"1896-S","quantity":6,"directUnitCost":12.5,"locationId":"0c0ffee0-0000-4000-8000-000000000001"}]}`

func TestTheFakeRefusesWhatBusinessCentralRefuses(t *testing.T) {
	erp := bcfake.New(bcfake.Options{Vendors: []string{"V1"}, Items: []string{"1896-S"}, Locations: []string{"0c0ffee0-0000-4000-8000-000000000001"}})
	defer erp.Close()
	cl := &http.Client{}
	defer cl.CloseIdleConnections()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {erp.ClientID()}, "client_secret": {erp.ClientSecret()}, "scope": {bcfake.Scope}}
	resp, err := cl.PostForm(erp.TokenURL, form)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tok := strings.Split(strings.Split(string(b), `"access_token":"`)[1], `"`)[0]
	post := func(bearer, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), "POST", erp.URL+"/api/v2.0/companies("+erp.CompanyID()+")/purchaseOrders", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+bearer)
		req.Header.Set("Content-Type", "application/json")
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		name, bearer, from, to string
		code                   int
		want                   string
	}{
		{"a token it did not issue", "forged", "", "", 401, "Authentication_InvalidCredentials"},
		{"unknown property", tok, `"vendorNumber"`, `"vendorNo":"V1","vendorNumber"`, 400, "The property 'vendorNo' does not exist on type 'Microsoft.NAV.purchaseOrder'"},
		{"quantity as a string", tok, `"quantity":6`, `"quantity":"6"`, 400, "expected type 'Edm.Decimal' of property 'quantity'"},
		{"date in another format", tok, `"orderDate":"2026-03-02"`, `"orderDate":"02/03/2026"`, 400, "Edm.Date"},
		{"location id not a guid", tok, `"locationId":"0c0ffee0-0000-4000-8000-000000000001"`, `"locationId":"MAIN"`, 400, "Edm.Guid"},
		{"read-only property", tok, `"vendorNumber"`, `"status":"Open","vendorNumber"`, 400, "read-only"},
		{"no vendor", tok, `"vendorNumber":"V1",`, ``, 400, "You must specify a vendor"},
		{"unknown vendor", tok, `"vendorNumber":"V1"`, `"vendorNumber":"V9"`, 400, "Internal_RecordNotFound"},
		{"unknown item", tok, `"1896-S"`, `"1999-S"`, 400, "The Item does not exist"},
		{"unknown line type", tok, `"lineType":"Item"`, `"lineType":"Product"`, 400, "lineType 'Product'"},
		{"valid", tok, "", "", 201, `"status":"Draft"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := post(tc.bearer, strings.Replace(valid, tc.from, tc.to, 1))
			if code != tc.code || !strings.Contains(body, tc.want) {
				t.Errorf("%d %s: want %d with %q", code, body, tc.code, tc.want)
			}
		})
	}
	if len(erp.Held()) != 1 {
		t.Errorf("%d orders held, want 1", len(erp.Held()))
	}
}
