package httpapi

import (
	_ "embed"
	"net/http"

	"github.com/gin-gonic/gin"
)

// openAPIDocument is the OpenAPI 3.1 description of every route
// (openapi.json; openapi_test.go keeps it and the router in step and checks
// the tests' responses against it).
//
//go:embed openapi.json
var openAPIDocument []byte

// OpenAPI returns the REST API's OpenAPI 3.1 document (JSON).
func OpenAPI() []byte { return append([]byte(nil), openAPIDocument...) }

// getOpenAPI: GET /openapi.json (public).
func (s *server) getOpenAPI(c *gin.Context) {
	c.Writer.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(c, http.StatusOK, openAPIDocument)
}
