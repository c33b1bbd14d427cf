package objstore_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(envHelperDir); dir != "" {
		os.Exit(putIfAbsentWriter(dir))
	}
	goleak.VerifyTestMain(m)
}
