//go:build !unix

package server

// writable cannot be asked here without writing; SQLite's own error stops the start.
func writable(string) error { return nil }
