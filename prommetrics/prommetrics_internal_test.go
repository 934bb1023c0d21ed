package prommetrics

import (
	"errors"
	"testing"

	"github.com/tollgate-go/tollgate/core"
)

// outcomeOf agrees with core.Event.Outcome on every kind of decision.
func TestOutcomeOfIsEventOutcome(t *testing.T) {
	down := errors.New("down")
	for _, ev := range []core.Event{
		{Decision: core.Decision{Allowed: true}},
		{Decision: core.Decision{Reason: core.ReasonLimited}},
		{Decision: core.Decision{Allowed: true, Reason: core.ReasonShadow}},
		{Decision: core.Decision{Reason: core.ReasonPenalty}},
		{Decision: core.Decision{Reason: core.ReasonFailClosed}, Err: down},
		{Decision: core.Decision{Allowed: true, Reason: core.ReasonFailOpen}, Err: down},
		{Decision: core.Decision{Allowed: true}, Err: down, Fallback: true},
		{Decision: core.Decision{Reason: core.ReasonLimited}, Err: down, Fallback: true},
		{Decision: core.Decision{Reason: core.ReasonInvalid}, Err: down},
		{Decision: core.Decision{Reason: core.ReasonCostExceedsBurst}},
	} {
		if got, want := outcomes[outcomeOf(&ev)], ev.Outcome(); got != want {
			t.Errorf("%+v: outcome %q, want core's %q", ev, got, want)
		}
	}
}
