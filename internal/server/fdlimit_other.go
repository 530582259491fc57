//go:build !unix

package server

// openFileLimit is unknown here: MAX_CONNECTIONS is taken as given.
func openFileLimit() (int, bool) { return 0, false }
