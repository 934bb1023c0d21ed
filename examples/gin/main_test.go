package main

import (
	"testing"

	"github.com/tollgate-go/tollgate/examples/internal/server/servertest"
)

func TestAppLimitsEachRoute(t *testing.T) { servertest.CheckRoutes(t, newApp) }
