package grpclimit

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tollgate-go/tollgate/core"
)

// MaxLimits is the most limits one call is taken under: New's limiter and
// those of WithLimit, or the limits of one WithMethod pattern. It is
// core/httplimit's MaxLimits.
const MaxLimits = 8

// DenyHandler returns the error that ends a call a limit denied. When it is
// called the trailer already carries retry-after, ratelimit-policy and
// ratelimit; d is the denying decision (d.Name names the limit,
// d.RetryAfter says when to come back). A nil error lets the call through
// after all. Without one, the call ends with codes.ResourceExhausted and a
// RetryInfo detail (see the package doc).
type DenyHandler func(ctx context.Context, fullMethod string, d core.Decision) error

// ErrorHandler returns the error that ends a call that could not be
// decided: err wraps keyfuncs.ErrNoKey when the call could not be keyed (a
// key func failed, or the key is longer than a store accepts; default
// codes.InvalidArgument), or core.ErrStore when the store failed and the
// limiter fails closed (default codes.Unavailable with a RetryInfo detail;
// the trailer already carries retry-after). A nil error lets the call
// through: nothing was taken from any limit.
type ErrorHandler func(ctx context.Context, fullMethod string, err error) error

// Option configures an Interceptor. A nil Option is not allowed.
type Option interface{ apply(*config) error }

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

// keyed is a limiter and its key func (nil: the interceptor's).
type keyed struct {
	l   *core.Limiter
	key KeyFunc
}

// methodLimit is one limit of a WithMethod pattern.
type methodLimit struct {
	pattern string
	keyed
}

type config struct {
	key      KeyFunc
	extra    []keyed
	methods  []methodLimit
	skip     func(ctx context.Context, fullMethod string) bool
	deny     DenyHandler
	onError  ErrorHandler
	noHeader bool
	messages bool
}

// WithKeyFunc sets how calls are keyed for every limit that names no key
// func of its own. Default: PeerIP(nil), the connection's address.
func WithKeyFunc(fn KeyFunc) Option {
	return optionFunc(func(c *config) error {
		if fn == nil {
			return errors.New("grpclimit: WithKeyFunc: nil func")
		}
		c.key = fn
		return nil
	})
}

// WithLimit applies another limiter to the calls New's limiter applies to
// (those no WithMethod pattern matches), keyed by key (nil: the key func of
// WithKeyFunc), such as a per-tenant limit beside a per-peer one. A call
// must be allowed by every limit, and they are taken together, as
// core.TakeAll takes them: in one atomic step when they share a store that
// takes several limits at once (the memory and Redis stores do), so a
// denied call consumes none of them.
func WithLimit(l *core.Limiter, key KeyFunc) Option {
	return optionFunc(func(c *config) error {
		if l == nil {
			return errors.New("grpclimit: WithLimit: nil limiter")
		}
		c.extra = append(c.extra, keyed{l, key})
		return nil
	})
}

// WithMethod applies l, keyed by key (nil: the key func of WithKeyFunc), to
// the calls whose method matches pattern, in place of New's limits:
// pattern is a full method ("/pkg.Service/Method") or a service
// ("/pkg.Service/", every method of it). A full method's pattern wins over
// its service's, and a service's over New's limits. Give the same pattern
// several times to apply several limits to its calls (taken together, as
// WithLimit's), and the same limiter under several patterns to share its
// buckets between them; New's limiter may be one of them, to count a
// method's calls against the general limit as well as its own.
func WithMethod(pattern string, l *core.Limiter, key KeyFunc) Option {
	return optionFunc(func(c *config) error {
		if l == nil {
			return fmt.Errorf("grpclimit: WithMethod(%q): nil limiter", pattern)
		}
		if !validPattern(pattern) {
			return fmt.Errorf("grpclimit: WithMethod(%q): not a full method (\"/pkg.Service/Method\") nor a service (\"/pkg.Service/\")", pattern)
		}
		c.methods = append(c.methods, methodLimit{pattern, keyed{l, key}})
		return nil
	})
}

// validPattern reports whether p is "/service/method" or "/service/",
// without further slashes or an empty service.
func validPattern(p string) bool {
	if len(p) < 3 || p[0] != '/' {
		return false
	}
	service, method, ok := strings.Cut(p[1:], "/")
	return ok && service != "" && !strings.Contains(method, "/")
}

// WithSkip lets the calls for which fn returns true through without a
// decision or rate-limit metadata: health checks, reflection, trusted
// callers.
func WithSkip(fn func(ctx context.Context, fullMethod string) bool) Option {
	return optionFunc(func(c *config) error {
		if fn == nil {
			return errors.New("grpclimit: WithSkip: nil func")
		}
		c.skip = fn
		return nil
	})
}

// WithDenyHandler replaces the error a denied call ends with (see
// DenyHandler).
func WithDenyHandler(fn DenyHandler) Option {
	return optionFunc(func(c *config) error {
		if fn == nil {
			return errors.New("grpclimit: WithDenyHandler: nil func")
		}
		c.deny = fn
		return nil
	})
}

// WithErrorHandler replaces the error a call that could not be decided
// ends with (see ErrorHandler). The defaults say no more than the code:
// internals never reach the client.
func WithErrorHandler(fn ErrorHandler) Option {
	return optionFunc(func(c *config) error {
		if fn == nil {
			return errors.New("grpclimit: WithErrorHandler: nil func")
		}
		c.onError = fn
		return nil
	})
}

// WithoutHeaderFields stops admitted calls from carrying ratelimit-policy
// and ratelimit in their response header. Denied calls still carry them,
// with retry-after, in their trailer: they are part of the denial.
func WithoutHeaderFields() Option {
	return optionFunc(func(c *config) error { c.noHeader = true; return nil })
}

// WithMessages decides, besides the opening of every limited stream, each
// message the client sends on it: after RecvMsg has received one, it is
// taken against the stream's limits, under the keys the stream was opened
// with, and a message a limit denies makes RecvMsg return the denial's
// error (codes.ResourceExhausted and RetryInfo; the trailer carries the
// fields), which the handler returns to end the stream. A stream of n
// messages thus costs 1 + n. The end of the client's stream (io.EOF) costs
// nothing.
func WithMessages() Option {
	return optionFunc(func(c *config) error { c.messages = true; return nil })
}
