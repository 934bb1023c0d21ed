package core_test

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/tollgate-go/tollgate/core/storetest"
)

// The package doc's table of what a greedy client is admitted must be the
// conformance suite's.
func TestDocAgreesWithConformanceSuite(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for alg, n := range storetest.GreedyAdmitted() {
		row := "//	" + padRight(alg.String(), 24) + padRight(strconv.Itoa(n[0]), 10) + strconv.Itoa(n[1])
		if !strings.Contains(string(doc), row+"\n") {
			t.Errorf("doc.go lacks the row %q", row)
		}
	}
}

func padRight(s string, n int) string { return s + strings.Repeat(" ", max(n-len(s), 1)) }
