package httplimit

import (
	"testing"
	"time"

	"github.com/tollgate-go/tollgate/core"
)

// When shadow limits sit a request out, the limits taken are renumbered:
// each box then selects the same limits by their new places, and a box
// over none of them is left out (it could count nothing).
func TestSelectTakenRenumbersBoxes(t *testing.T) {
	pen := core.Penalty{Denials: 1, Within: time.Minute, For: time.Minute}
	boxes := []core.Box{
		{Key: "all", Penalty: pen},                     // every limit
		{Key: "first-two", Penalty: pen, Takes: 0b011}, // limits 0 and 1
		{Key: "sat-out", Penalty: pen, Takes: 0b100},   // limit 2 only
		{Key: "last", Penalty: pen, Takes: 0b1000},     // limit 3
	}
	// Limit 2 sat the request out: limits 0, 1 and 3 are taken.
	sel, n := selectTaken(boxes, []int{0, 1, 3})
	got := sel[:n]
	want := []core.Box{{Key: "all", Penalty: pen}, {Key: "first-two", Penalty: pen, Takes: 0b011}, {Key: "last", Penalty: pen, Takes: 0b100}}
	if len(got) != len(want) {
		t.Fatalf("boxes %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("box %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}
