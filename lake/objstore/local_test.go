package objstore_test

import (
	"errors"
	"testing"

	"github.com/shelflake/shelflake/lake/objstore"
	"github.com/shelflake/shelflake/lake/objstore/objtest"
)

func newLocal(t testing.TB) *objstore.Local {
	t.Helper()
	l, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestLocalAcceptance(t *testing.T) {
	objtest.AcceptanceTest(t, newLocal(t))
}

func TestPutIfAbsentVerified(t *testing.T) {
	l := newLocal(t)
	ctx := t.Context()
	mine := []byte(`{"commitInfo":{"txnId":"mine"}}`)
	if err := objstore.PutIfAbsentVerified(ctx, l, "log/1.json", mine); err != nil {
		t.Fatalf("first write: %v", err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"a retry with the same bytes finds its own write", mine, nil},
		{"other bytes lost the race", []byte(`{"commitInfo":{"txnId":"theirs"}}`), objstore.ErrExists},
		{"a longer object with our bytes as prefix is not ours", append(append([]byte(nil), mine[:len(mine)-1]...), []byte(`,"x":1}`)...), objstore.ErrExists},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := objstore.PutIfAbsentVerified(ctx, l, "log/1.json", tc.data)
			if (tc.want == nil && err != nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}
