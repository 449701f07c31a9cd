package httpapi

import (
	"net"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/auth"
	"github.com/zombi-dev/zombi/tlsconf"
)

// Authentication and authorization of REST requests. One middleware
// (authenticate) finds the principal; one helper (authorize) asks the ACLs.
// With neither configured, no middleware is installed and routes are
// registered bare: auth off costs nothing.

// clusterResource is the name of Kafka's one Cluster resource.
const clusterResource = auth.ClusterName

// principalKey holds the request's auth.Principal in the gin context.
const principalKey = "zombi.principal"

// viaTokenKey is set when the request authenticated with a bearer token.
const viaTokenKey = "zombi.via_token"

// wwwAuthenticate is sent with every 401: Basic (same users as SASL) or a
// Bearer token (POST /auth/tokens).
var wwwAuthenticate = []string{`Basic realm="zombi", charset="UTF-8"`, `Bearer realm="zombi"`}

var (
	errNoCredentials  = &apiError{status: http.StatusUnauthorized, msg: "authentication required: use Authorization: Basic or Bearer"}
	errBadCredentials = &apiError{status: http.StatusUnauthorized, msg: "authentication failed: invalid credentials"}
)

// publicPaths matches ZOMBI_HTTP_PUBLIC_PATHS: exact paths, and prefixes
// written with a trailing '*'.
type publicPaths struct {
	exact    map[string]bool
	prefixes []string
}

func newPublicPaths(paths []string) publicPaths {
	pp := publicPaths{exact: map[string]bool{}}
	for _, p := range paths {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			pp.prefixes = append(pp.prefixes, prefix)
		} else {
			pp.exact[p] = true
		}
	}
	return pp
}

func (pp publicPaths) match(path string) bool {
	if pp.exact[path] {
		return true
	}
	for _, p := range pp.prefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// authenticate finds the principal of a request: HTTP Basic against the
// users, a Bearer token, or a client certificate verified by the TLS
// client CA (User:<CN>). Wrong credentials are always 401, even where
// anonymous access would do. Without credentials: 401 when the server
// requires authentication (public paths excepted), else User:ANONYMOUS.
func (s *server) authenticate(c *gin.Context) {
	r := c.Request
	if s.public.match(r.URL.Path) {
		c.Next()
		return
	}
	h := r.Header.Get("Authorization")
	switch {
	case h != "":
		if s.cfg.Auth == nil {
			s.unauthorized(c, errBadCredentials)
			return
		}
		var (
			p        auth.Principal
			err      error
			viaToken bool
		)
		if scheme, rest, _ := strings.Cut(h, " "); strings.EqualFold(scheme, "Bearer") {
			viaToken = true
			p, err = s.cfg.Auth.VerifyToken(r.Context(), strings.TrimSpace(rest))
		} else if user, pw, ok := r.BasicAuth(); ok {
			p, err = s.cfg.Auth.VerifyPassword(r.Context(), user, pw)
		} else {
			// Unknown scheme or malformed Basic: the same answer as a
			// wrong password, without the delay (nothing was checked).
			err = auth.ErrAuthFailed
		}
		if err != nil {
			s.unauthorized(c, errBadCredentials)
			return
		}
		c.Set(principalKey, p)
		if viaToken {
			c.Set(viaTokenKey, true)
		}
	case r.TLS != nil && tlsconf.ClientCN(r.TLS) != "":
		c.Set(principalKey, auth.User(tlsconf.ClientCN(r.TLS)))
	case s.cfg.RequireAuth:
		s.unauthorized(c, errNoCredentials)
		return
	}
	c.Next()
}

func (s *server) unauthorized(c *gin.Context, err error) {
	c.Writer.Header()["Www-Authenticate"] = wwwAuthenticate
	s.fail(c, err)
	c.Abort()
}

// principal is who the request acts as: User:ANONYMOUS when it did not
// authenticate.
func principal(c *gin.Context) auth.Principal {
	if v, ok := c.Get(principalKey); ok {
		return v.(auth.Principal)
	}
	return auth.Anonymous
}

// clientHost is the peer IP the ACL host field matches. Forwarding headers
// are ignored: a client could write any address there.
func clientHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// allowed asks the ACLs whether the request may do op on the resource.
func (s *server) allowed(c *gin.Context, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	if !s.authz {
		return true
	}
	return s.cfg.Auth.Authorize(principal(c), clientHost(c.Request), op, rt, name)
}

// authorize is allowed, answering 403 when refused; the handler returns
// when it is false.
func (s *server) authorize(c *gin.Context, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	if s.allowed(c, op, rt, name) {
		return true
	}
	s.fail(c, forbidden(principal(c), op, rt, name))
	c.Abort()
	return false
}

func forbidden(p auth.Principal, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) error {
	return &apiError{status: http.StatusForbidden, msg: p.String() + " is not authorized to " + op.String() + " " + rt.String() + " " + name}
}

// need is the route middleware for the ACL a route needs on the resource
// its path names (param "" is the cluster).
func (s *server) need(op kmsg.ACLOperation, rt kmsg.ACLResourceType, param string) gin.HandlerFunc {
	return func(c *gin.Context) {
		name := clusterResource
		if param != "" {
			name = c.Param(param)
		}
		if s.authorize(c, op, rt, name) {
			c.Next()
		}
	}
}

// authorizeCreate checks auto-creation of a table that does not exist yet,
// as Kafka's auto-create: CREATE on the cluster or on the topic.
func (s *server) authorizeCreate(c *gin.Context, table string) bool {
	if !s.authz {
		return true
	}
	if _, ok := s.log.Topic(table); ok {
		return true
	}
	if s.allowed(c, kmsg.ACLOperationCreate, kmsg.ACLResourceTypeCluster, clusterResource) {
		return true
	}
	return s.authorize(c, kmsg.ACLOperationCreate, kmsg.ACLResourceTypeTopic, table)
}

// route registers a handler behind the ACL middleware when ACLs are on.
func (s *server) route(register func(string, ...gin.HandlerFunc) gin.IRoutes, path string, acl gin.HandlerFunc, h gin.HandlerFunc) {
	if strings.Contains(path, "/:table") {
		h = s.noInternalTable(h)
	}
	if s.authz && acl != nil {
		register(path, acl, h)
		return
	}
	register(path, h)
}
