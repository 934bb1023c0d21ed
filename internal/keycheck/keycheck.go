// Package keycheck reads what a key func returned, the same way for every
// front end (core/httplimit for HTTP, grpclimit for gRPC): a call that is
// not keyed, whatever the reason, is one error the front end answers
// deliberately.
package keycheck

import (
	"errors"
	"fmt"

	"github.com/tollgate-go/tollgate/keyfuncs"
)

// ErrEmpty is why a key func that returned "" and no error is refused.
var ErrEmpty = errors.New("key func returned an empty key")

// Result returns key, or an error wrapping keyfuncs.ErrNoKey: err itself
// when it wraps ErrNoKey already, err wrapped in it otherwise, and ErrEmpty
// wrapped in it for an empty key.
func Result(key string, err error) (string, error) {
	switch {
	case err != nil && errors.Is(err, keyfuncs.ErrNoKey):
		return "", err
	case err != nil:
		return "", fmt.Errorf("%w: %w", keyfuncs.ErrNoKey, err)
	case key == "":
		return "", fmt.Errorf("%w: %w", keyfuncs.ErrNoKey, ErrEmpty)
	}
	return key, nil
}
