// Package grpc is the README's gRPC section.
package grpc

// README: grpc
import (
	"google.golang.org/grpc"

	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/grpclimit"
)

// README: end

import (
	"context"
	"strings"
	"time"

	"google.golang.org/grpc/credentials"

	"github.com/tollgate-go/tollgate/keyfuncs"
)

// Server is the section's one-line form.
func Server() *grpc.Server {
	// README: grpc
	lim := grpclimit.PerIP(core.PerSecond(100)) // 100 calls a second per client address
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(lim.Unary()),
		grpc.ChainStreamInterceptor(lim.Stream()))
	// README: end
	return srv
}

// Full is the section's full form.
func Full(perIP, perTenant *core.Limiter) (*grpclimit.Interceptor, error) {
	// README: grpc-full
	resolver, err := keyfuncs.NewIPResolver(keyfuncs.TrustProxies("10.0.0.0/8")) // the HTTP side's too
	if err != nil {
		return nil, err
	}
	byTenant, err := grpclimit.Metadata("x-tenant-id", 64) // missing, repeated or longer: InvalidArgument
	if err != nil {
		return nil, err
	}
	return grpclimit.New(perIP, // any core.Limiter: store, name, failure policy
		grpclimit.WithKeyFunc(grpclimit.PeerIP(resolver)),               // x-forwarded-for from your proxies only
		grpclimit.WithMethod("/shop.Orders/Place", perTenant, byTenant), // this method: per tenant instead
		grpclimit.WithSkip(func(_ context.Context, method string) bool {
			return strings.HasPrefix(method, "/grpc.health.v1.Health/")
		}),
		grpclimit.WithMessages()) // a stream's messages count too, not only its opening
	// README: end
}

// Client is the section's client.
func Client(target string, creds credentials.TransportCredentials) (*grpc.ClientConn, error) {
	// README: grpc-client
	ci, err := grpclimit.NewClientInterceptor(grpclimit.WithMaxWait(5 * time.Second))
	if err != nil {
		return nil, err
	}
	return grpc.NewClient(target,
		grpc.WithTransportCredentials(creds),
		grpc.WithChainUnaryInterceptor(ci.Unary()),
		grpc.WithChainStreamInterceptor(ci.Stream()))
	// README: end
}
