package rules

import (
	"errors"
	"testing"
)

func TestFieldErrorWithoutErrDoesNotPanic(t *testing.T) {
	cases := []struct {
		e    *FieldError
		want string
	}{
		{&FieldError{Path: "rules[0].name"}, "rules: rules[0].name: invalid"},
		{&FieldError{File: "rules.yaml", Line: 3, Path: "rules[0].name"}, "rules.yaml:3: rules[0].name: invalid"},
		{&FieldError{Path: "rules[0].name", Err: errors.New("empty")}, "rules: rules[0].name: empty"},
	}
	for _, c := range cases {
		if got := c.e.Error(); got != c.want {
			t.Errorf("Error() = %q, want %q", got, c.want)
		}
	}
}
