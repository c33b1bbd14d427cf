package queries

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestRedactorRemovesSecretsOfTheURIAndTheEnvironment(t *testing.T) {
	r := NewRedactor("s3://bucket/lake?endpoint=http://keyid:Endpoint%2FPass@127.0.0.1:9000&region=eu-west-1&path_style=true&secret_key=UriSecret123",
		[]string{"AWS_SECRET_ACCESS_KEY=EnvSecret456", "AWS_ACCESS_KEY_ID=AKIAEXAMPLE", "AWS_SESSION_TOKEN=Tok/en+789",
			"HOME=/root", "XDG_SESSION_TYPE=tty1", "SHELFLAKE_SASL_PASSWORD=hunter22"})
	for _, secret := range []string{"UriSecret123", "Endpoint/Pass", "Endpoint%2FPass", "keyid", "EnvSecret456", "AKIAEXAMPLE",
		"Tok/en+789", "Tok%2Fen%2B789", "hunter22"} {
		msg := "open s3://bucket/lake?secret_key=" + secret + ": denied for " + secret
		got := r.String(msg)
		if strings.Contains(got, secret) {
			t.Errorf("%q survives: %s", secret, got)
		}
		if !strings.Contains(got, Redacted) {
			t.Errorf("%q: nothing redacted in %s", secret, got)
		}
	}
	for _, keep := range []string{"/root", "eu-west-1", "127.0.0.1:9000", "tty1", "true"} {
		if got := r.String("at " + keep); got != "at "+keep {
			t.Errorf("%q redacted: %s", keep, got)
		}
	}
}

func TestRedactedErrorsKeepTheirChain(t *testing.T) {
	r := NewRedactor("s3://b?token=VerySecret", nil)
	base := errors.New("base")
	err := r.Error(fmt.Errorf("uri s3://b?token=VerySecret: %w", base))
	if strings.Contains(err.Error(), "VerySecret") || !errors.Is(err, base) {
		t.Errorf("error %q (is base: %v)", err, errors.Is(err, base))
	}
	if plain := errors.New("nothing secret"); r.Error(plain) != plain {
		t.Error("an error without secrets is wrapped")
	}
	if r.Error(nil) != nil {
		t.Error("nil error wrapped")
	}
}

func TestRedactingLogHandlerScrubsMessagesAndAttributes(t *testing.T) {
	r := NewRedactor("", []string{"AWS_SECRET_ACCESS_KEY=LogSecret42"})
	var buf bytes.Buffer
	log := slog.New(r.Handler(slog.NewJSONHandler(&buf, nil))).With("uri", "x?k=LogSecret42")
	log.Info("opening LogSecret42", "err", errors.New("denied LogSecret42"), slog.Group("g", "v", "LogSecret42"), "n", 3)
	log.WithGroup("w").Log(context.Background(), slog.LevelWarn, "again", "s", fmt.Stringer(stringer("LogSecret42")))
	out := buf.String()
	if strings.Contains(out, "LogSecret42") || strings.Count(out, Redacted) != 6 || !strings.Contains(out, `"n":3`) {
		t.Errorf("log:\n%s", out)
	}
}

type stringer string

func (s stringer) String() string { return string(s) }
