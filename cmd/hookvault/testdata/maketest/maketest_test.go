// Package maketest is what TestMakeTest runs `make test` on: a test that passes, one that
// skips with a reason, and one that fails when MAKETEST_FAIL is set.
package maketest

import (
	"os"
	"testing"
)

func TestPasses(t *testing.T) {}

func TestSkips(t *testing.T) {
	t.Skip("needs the frobnicator: set FROB_URL to run it")
}

func TestFailsOnDemand(t *testing.T) {
	if os.Getenv("MAKETEST_FAIL") != "" {
		t.Fatal("failed as asked")
	}
}
