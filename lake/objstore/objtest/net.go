package objtest

import (
	"net"
	"testing"
)

// ClosedAddr returns a loopback host:port nothing listens on: connections
// to it are refused (an S3 endpoint, broker or ERP that is not running).
func ClosedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}
