package keycheck_test

import (
	"errors"
	"testing"

	"github.com/tollgate-go/tollgate/internal/keycheck"
	"github.com/tollgate-go/tollgate/keyfuncs"
)

func TestResult(t *testing.T) {
	other := errors.New("no such header")
	noKey := keyfuncs.ErrNoKey
	for _, c := range []struct {
		name    string
		key     string
		err     error
		want    string
		wantErr []error // each must be in the chain
	}{
		{"a key", "k", nil, "k", nil},
		{"ErrNoKey as it is", "", noKey, "", []error{noKey}},
		{"a key beside ErrNoKey is dropped", "k", noKey, "", []error{noKey}},
		{"another error wrapped in ErrNoKey", "", other, "", []error{noKey, other}},
		{"an empty key", "", nil, "", []error{noKey, keycheck.ErrEmpty}},
	} {
		got, err := keycheck.Result(c.key, c.err)
		if got != c.want {
			t.Errorf("%s: key %q, want %q", c.name, got, c.want)
		}
		if (err == nil) != (len(c.wantErr) == 0) {
			t.Errorf("%s: error %v, want one wrapping %v", c.name, err, c.wantErr)
		}
		for _, w := range c.wantErr {
			if !errors.Is(err, w) {
				t.Errorf("%s: error %v does not wrap %v", c.name, err, w)
			}
		}
	}
}
