// Package gin is the README's gin quick start.
package gin

// README: gin
import (
	"github.com/gin-gonic/gin"
	"github.com/tollgate-go/tollgate/core"
	"github.com/tollgate-go/tollgate/ginmw"
)

// README: end

// Engine is the quick start's engine.
func Engine() *gin.Engine {
	// README: gin
	r := gin.New()
	r.Use(ginmw.PerIP(core.PerMinute(100)))
	r.GET("/users/:id", getUser)
	// README: end
	return r
}

func getUser(c *gin.Context) { c.String(200, c.Param("id")) }
