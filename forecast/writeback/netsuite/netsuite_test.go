package netsuite_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shelflake/shelflake/forecast/writeback"
	"github.com/shelflake/shelflake/forecast/writeback/netsuite"
	"github.com/shelflake/shelflake/forecast/writeback/netsuite/netsuitefake"
	"github.com/shelflake/shelflake/lake"
	"github.com/shelflake/shelflake/schema"
)

var asOf = schema.NewDate(2026, 3, 2)

var keys struct {
	once sync.Once
	rsa  *rsa.PrivateKey
	ec   *ecdsa.PrivateKey
}

func testKeys(t testing.TB) (*rsa.PrivateKey, *ecdsa.PrivateKey) {
	keys.once.Do(func() {
		var err error
		if keys.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if keys.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	})
	return keys.rsa, keys.ec
}

// keyFile writes key as PKCS#8 PEM.
func keyFile(t testing.TB, key crypto.Signer) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type setup struct {
	ns  *netsuitefake.Server
	cfg netsuite.Config
}

// newSetup starts a fake account that knows the vendors, items and
// locations of docs, and a config mapping them.
func newSetup(t testing.TB, key crypto.Signer, docs []*writeback.Document, faults func(netsuitefake.Request) netsuitefake.Fault) *setup {
	t.Helper()
	ns := netsuitefake.New(netsuitefake.Options{ClientID: "client-1", CertificateID: "cert-1", PublicKey: key.Public(), Faults: faults})
	t.Cleanup(ns.Close)
	cfg := netsuite.Config{AccountID: "1234567", BaseURL: ns.URL, ClientID: "client-1", CertificateID: "cert-1",
		PrivateKeyFile: keyFile(t, key), Subsidiary: "1", Items: map[string]string{}, Vendors: map[string]string{},
		Locations: map[string]string{}, Currencies: map[string]string{"EUR": "2", "USD": "1"}, Timeout: "500ms", MaxAttempts: 5}
	ns.AddRef("subsidiary", "1")
	ns.AddRef("currency", "1")
	ns.AddRef("currency", "2")
	n := 0
	for _, d := range docs {
		id := func(m map[string]string, k, typ string) {
			if _, ok := m[k]; !ok {
				n++
				m[k] = fmt.Sprint(n)
				ns.AddRef(typ, m[k])
			}
		}
		id(cfg.Vendors, d.SupplierID, "vendor")
		id(cfg.Locations, d.LocationID, "location")
		for _, l := range d.Lines {
			id(cfg.Items, l.SKU, "inventoryItem")
		}
	}
	return &setup{ns: ns, cfg: cfg}
}

func (s *setup) channel(t testing.TB) *netsuite.Channel {
	t.Helper()
	ch, err := netsuite.New(s.cfg, netsuite.Options{Retry: writeback.RetryPolicy{Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }}})
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func testDocs(t testing.TB, n int) []*writeback.Document {
	t.Helper()
	var docs []*writeback.Document
	for i := range n {
		d := &writeback.Document{AsOf: asOf, RunID: "run-1", LocationID: fmt.Sprintf("S%04d", i%3+1),
			SupplierID: fmt.Sprintf("SUP%03d", i/3+1), Currency: []string{"EUR", "USD"}[i%2]}
		for j := range 1 + i%3 {
			cost := schema.Money(12345 + 1111*int64(i+j))
			d.Lines = append(d.Lines, writeback.Line{SKU: fmt.Sprintf("SKU%06d", 10*i+j), Qty: 12, CasePack: 6, MOQ: 6,
				UnitCost: cost, ExtendedCost: cost.Mul(12), NeedByDate: asOf + schema.Date(3+j), Reasons: []string{"below_rop"},
				Explanation: writeback.Explanation{Model: "ses", Defaulted: []string{}}})
		}
		if err := d.Finalize(); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, d)
	}
	return docs
}

func outgoing(docs []*writeback.Document) []writeback.Outgoing {
	out := make([]writeback.Outgoing, len(docs))
	for i, d := range docs {
		out[i] = writeback.Outgoing{Doc: d}
	}
	return out
}

func TestNetSuiteUpsertsEachDocumentOnceUnderFaults(t *testing.T) {
	rsaKey, ecKey := testKeys(t)
	plans := []struct {
		name string
		plan func(netsuitefake.Request) netsuitefake.Fault
	}{
		{"none", nil},
		{"429 concurrency limit", func(r netsuitefake.Request) netsuitefake.Fault {
			return map[bool]netsuitefake.Fault{true: netsuitefake.TooMany}[r.N <= 2]
		}},
		{"500 on put", func(r netsuitefake.Request) netsuitefake.Fault {
			return map[bool]netsuitefake.Fault{true: netsuitefake.Status500}[r.Method == "PUT" && r.N == 1]
		}},
		{"timeout after put", func(r netsuitefake.Request) netsuitefake.Fault {
			return map[bool]netsuitefake.Fault{true: netsuitefake.TimeoutAfter}[r.Method == "PUT" && r.N == 1]
		}},
		{"dropped after put", func(r netsuitefake.Request) netsuitefake.Fault {
			return map[bool]netsuitefake.Fault{true: netsuitefake.DropAfter}[r.Method == "PUT" && r.N == 1]
		}},
		{"dropped before", func(r netsuitefake.Request) netsuitefake.Fault {
			return map[bool]netsuitefake.Fault{true: netsuitefake.DropBefore}[r.N == 1]
		}},
		{"token expiry mid-run", nil}, // set per run below

	}
	for _, k := range []struct {
		name string
		key  crypto.Signer
	}{{"PS256", rsaKey}, {"ES256", ecKey}} {
		for _, p := range plans {
			t.Run(k.name+"/"+p.name, func(t *testing.T) {
				docs := testDocs(t, 7)
				plan := p.plan
				if strings.HasPrefix(p.name, "token") {
					var once sync.Once
					plan = func(r netsuitefake.Request) netsuitefake.Fault {
						f := netsuitefake.None
						if r.Method == "PUT" && r.Key == docs[3].ExternalRef {
							once.Do(func() { f = netsuitefake.ExpireTokens })
						}
						return f
					}
				}
				s := newSetup(t, k.key, docs, plan)
				l, err := lake.Open(t.Context(), t.TempDir(), lake.Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer l.Close()
				ch := s.channel(t)
				d, err := writeback.New(l, writeback.Options{Channels: []writeback.Channel{ch}})
				if err != nil {
					t.Fatal(err)
				}
				rep, err := d.Deliver(t.Context(), docs)
				if err != nil || rep.Accepted != len(docs) {
					t.Fatalf("%+v %v", rep, err)
				}
				got := s.ns.ByExternalID()
				if len(got) != len(docs) || s.ns.Count() != len(docs) {
					t.Fatalf("%d records for %d documents", s.ns.Count(), len(docs))
				}
				for _, doc := range docs {
					o := got[doc.ExternalRef]
					if len(o.Lines) != len(doc.Lines) || o.Approval != "1" || o.Entity != s.cfg.Vendors[doc.SupplierID] {
						t.Errorf("%s: %+v", doc.ExternalRef, o)
					}
					for i, l := range doc.Lines {
						if o.Lines[i].Quantity != float64(l.Qty) || o.Lines[i].Rate != float64(l.UnitCost)/1e4 || o.Lines[i].Item != s.cfg.Items[l.SKU] {
							t.Errorf("%s line %d: %+v", doc.ExternalRef, i, o.Lines[i])
						}
					}
				}
				if strings.HasPrefix(p.name, "token") && s.ns.TokensIssued() < 2 {
					t.Errorf("%d tokens issued: the expired one was never replaced", s.ns.TokensIssued())
				}
				puts := s.ns.Puts()
				if rep, err = d.Deliver(t.Context(), docs); err != nil || rep.AlreadyAccepted != len(docs) || s.ns.Puts() != puts {
					t.Fatalf("rerun %+v %v", rep, err)
				}
			})
		}
	}
}

func TestNetSuiteUnmappedSKUIsRejectedWithoutARequest(t *testing.T) {
	rsaKey, _ := testKeys(t)
	docs := testDocs(t, 3)
	s := newSetup(t, rsaKey, docs, nil)
	delete(s.cfg.Items, docs[2].Lines[1].SKU)
	res := s.channel(t).Send(t.Context(), outgoing(docs))
	if res[0].Status != schema.WritebackAccepted || res[1].Status != schema.WritebackAccepted {
		t.Fatalf("%+v", res)
	}
	if r := res[2]; r.Status != schema.WritebackRejected || r.Attempts != 1 || !strings.Contains(r.Err.Error(), "sku "+docs[2].Lines[1].SKU+" has no item") {
		t.Fatalf("%+v", r)
	}
	if s.ns.Puts() != 2 {
		t.Fatalf("%d puts", s.ns.Puts())
	}
}

func TestNetSuiteRefusesWhatNetSuiteRefuses(t *testing.T) {
	rsaKey, ecKey := testKeys(t)
	docs := testDocs(t, 1)
	t.Run("wrong certificate key", func(t *testing.T) {
		s := newSetup(t, rsaKey, docs, nil)
		s.cfg.PrivateKeyFile = keyFile(t, ecKey)
		r := s.channel(t).Send(t.Context(), outgoing(docs))[0]
		if r.Status != schema.WritebackFailed || r.Code != 400 || !strings.Contains(r.Err.Error(), "signature does not verify") || s.ns.Count() != 0 {
			t.Fatalf("%+v", r)
		}
	})
	t.Run("unknown vendor id", func(t *testing.T) {
		s := newSetup(t, rsaKey, docs, nil)
		s.cfg.Vendors[docs[0].SupplierID] = "999"
		r := s.channel(t).Send(t.Context(), outgoing(docs))[0]
		if r.Status != schema.WritebackRejected || r.Code != 400 || !strings.Contains(r.Err.Error(), "INVALID_KEY_OR_REF") || r.Attempts != 1 {
			t.Fatalf("%+v", r)
		}
	})
}

func TestNetSuiteReadsBackWhatPlannersDid(t *testing.T) {
	rsaKey, _ := testKeys(t)
	docs := testDocs(t, 5)
	s := newSetup(t, rsaKey, docs, nil)
	ch := s.channel(t)
	for _, r := range ch.Send(t.Context(), outgoing(docs)) {
		if r.Status != schema.WritebackAccepted {
			t.Fatalf("%+v", r)
		}
	}
	s.ns.Approve(docs[0].ExternalRef)
	s.ns.SetQty(docs[1].ExternalRef, s.cfg.Items[docs[1].Lines[0].SKU], 30)
	s.ns.Approve(docs[1].ExternalRef)
	s.ns.Reject(docs[2].ExternalRef)
	s.ns.Delete(docs[3].ExternalRef)
	outs, err := ch.Outcomes(t.Context(), docs)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{writeback.OutcomeAccepted, writeback.OutcomeChanged, writeback.OutcomeRejected, writeback.OutcomeRejected, writeback.OutcomePending}
	for i, o := range outs {
		if o.Decision != want[i] {
			t.Errorf("document %d: %+v, want %s", i, o, want[i])
		}
	}
	if l := outs[1].Lines[0]; l.SKU != docs[1].Lines[0].SKU || l.PlannerQty != 30 || l.SuggestedQty != 12 {
		t.Errorf("%+v", l)
	}
}

func TestNetSuiteThatCannotBeReachedFailsEveryDocumentAtOnce(t *testing.T) {
	rsaKey, _ := testKeys(t)
	docs := testDocs(t, 4)
	s := newSetup(t, rsaKey, docs, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.cfg.BaseURL = "http://" + ln.Addr().String()
	ln.Close()
	for _, r := range s.channel(t).Send(t.Context(), outgoing(docs)) {
		var ue *writeback.UnreachableError
		if r.Status != schema.WritebackFailed || !errors.As(r.Err, &ue) || r.Attempts > 1 {
			t.Fatalf("%+v", r)
		}
	}
}
