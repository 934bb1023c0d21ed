// Package echo is the README's echo v4 quick start.
package echo

// README: echo
import (
	"github.com/labstack/echo/v4"
	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/echomw"
)

// README: end

// Echo is the quick start's server.
func Echo() *echo.Echo {
	// README: echo
	e := echo.New()
	e.Use(echomw.PerIP(core.PerMinute(100)))
	e.GET("/users/:id", getUser)
	// README: end
	return e
}

func getUser(c echo.Context) error { return c.String(200, c.Param("id")) }
