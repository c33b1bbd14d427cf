//go:build !linux

package main

// disableHugePages is a no-op where transparent huge pages are not Linux's.
func disableHugePages() error { return nil }
