package objstore_test

import (
	"testing"

	"github.com/shelflake/shelflake/lake/objstore/objtest"
)

func TestS3Acceptance(t *testing.T) {
	srv := objtest.StartVersity(t)
	objtest.AcceptanceTest(t, srv.NewBucket(t, srv.Bucket))
}
