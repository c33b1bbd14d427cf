package netsuite

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// AssertionType is the client_assertion_type of RFC 7523.
const AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// ParsePrivateKey reads a PEM private key: PKCS#8, PKCS#1 (RSA) or SEC 1
// (EC).
func ParsePrivateKey(pemBytes []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(pemBytes)
	if b == nil {
		return nil, errors.New("no PEM block")
	}
	if k, err := x509.ParsePKCS8PrivateKey(b.Bytes); err == nil {
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("a %T key cannot sign", k)
		}
		return s, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(b.Bytes); err == nil {
		return k, nil
	}
	return nil, fmt.Errorf("PEM block %q is not a PKCS#8, PKCS#1 or SEC 1 private key", b.Type)
}

// SignJWT signs claims with key as a compact JWS: PS256 for an RSA key,
// ES256 for a P-256 key (the algorithms NetSuite accepts).
func SignJWT(key crypto.Signer, kid string, claims any) (string, error) {
	var alg string
	switch k := key.Public().(type) {
	case *rsa.PublicKey:
		alg = "PS256"
	case *ecdsa.PublicKey:
		if k.Curve.Params().BitSize != 256 {
			return "", fmt.Errorf("ES256 needs a P-256 key, not %s", k.Curve.Params().Name)
		}
		alg = "ES256"
	default:
		return "", fmt.Errorf("a %T key: want RSA (PS256) or P-256 (ES256)", k)
	}
	h, err := json.Marshal(map[string]string{"typ": "JWT", "alg": alg, "kid": kid})
	if err != nil {
		return "", err
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	sum := sha256.Sum256([]byte(input))
	var sig []byte
	switch k := key.(type) {
	case *rsa.PrivateKey:
		sig, err = rsa.SignPSS(rand.Reader, k, crypto.SHA256, sum[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	case *ecdsa.PrivateKey:
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, k, sum[:])
		if err == nil {
			sig = make([]byte, 64)
			r.FillBytes(sig[:32])
			s.FillBytes(sig[32:])
		}
	default:
		return "", fmt.Errorf("cannot sign with a %T", key)
	}
	if err != nil {
		return "", fmt.Errorf("sign jwt: %w", err)
	}
	return input + "." + enc.EncodeToString(sig), nil
}

// tokenSource fetches access tokens by the client credentials flow with a
// JWT assertion and keeps the current one.
type tokenSource struct {
	url, clientID, kid string
	scope              []string
	key                crypto.Signer
	client             *http.Client
	now                func() time.Time

	mu  sync.Mutex
	tok string
	exp time.Time
}

// tokenError is a refusal by the token endpoint: permanent (bad client,
// key or certificate) unless the endpoint was unavailable.
type tokenError struct {
	Code      int
	Body      string
	Transient bool
	Err       error
}

func (e *tokenError) Error() string {
	if e.Err != nil {
		return "netsuite token: " + e.Err.Error()
	}
	return fmt.Sprintf("netsuite token: http %d: %s", e.Code, e.Body)
}

func (e *tokenError) Unwrap() error { return e.Err }

func (t *tokenSource) token(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if t.tok != "" && now.Before(t.exp) {
		return t.tok, nil
	}
	iat := now.Unix()
	assertion, err := SignJWT(t.key, t.kid, map[string]any{"iss": t.clientID, "scope": t.scope, "aud": t.url,
		"iat": iat, "exp": iat + 3000})
	if err != nil {
		return "", &tokenError{Err: err}
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {AssertionType}, "client_assertion": {assertion}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, strings.NewReader(form.Encode()))
	if err != nil {
		return "", &tokenError{Err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := t.client.Do(req)
	if err != nil {
		return "", &tokenError{Transient: true, Err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", &tokenError{Code: resp.StatusCode, Transient: true, Err: err}
	}
	if resp.StatusCode != http.StatusOK {
		return "", &tokenError{Code: resp.StatusCode, Body: excerpt(string(b)), Transient: resp.StatusCode == 429 || resp.StatusCode >= 500}
	}
	var r struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   any    `json:"expires_in"`
		TokenType   string `json:"token_type"`
	}
	if err := json.Unmarshal(b, &r); err != nil || r.AccessToken == "" {
		return "", &tokenError{Code: resp.StatusCode, Body: excerpt(string(b)), Err: errors.New("no access_token in the answer")}
	}
	ttl := time.Hour
	switch v := r.ExpiresIn.(type) { // NetSuite sends "3600", a string
	case string:
		var n int
		if _, err := fmt.Sscan(v, &n); err == nil && n > 0 {
			ttl = time.Duration(n) * time.Second
		}
	case float64:
		if v > 0 {
			ttl = time.Duration(v) * time.Second
		}
	}
	t.tok, t.exp = r.AccessToken, now.Add(ttl-min(ttl/10, time.Minute))
	return t.tok, nil
}

// invalidate drops tok if it is still the current token.
func (t *tokenSource) invalidate(tok string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tok == tok {
		t.tok = ""
	}
}

func excerpt(s string) string {
	s = strings.TrimSpace(s)
	if len(s) <= 512 {
		return s
	}
	cut := 512
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}
