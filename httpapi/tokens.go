package httpapi

import (
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/auth"
)

// Bearer tokens (zombi token create|list|revoke talk to these routes) and
// whoami. A user manages its own tokens; ALTER on the cluster manages
// everyone's, DESCRIBE on the cluster lists everyone's.

type tokenRequest struct {
	Description string `json:"description"`
	TTLSecs     *int64 `json:"ttl_secs"`
	Owner       string `json:"owner"` // "alice" or "User:alice"; default: the caller
}

type tokenCreated struct {
	Token string `json:"token"` // the secret, shown once
	auth.TokenInfo
}

// needsAuthService answers 503 when the server runs without the auth
// service (only in tests and embedders that leave Config.Auth nil).
func (s *server) needsAuthService(c *gin.Context) bool {
	if s.cfg.Auth == nil {
		s.fail(c, &apiError{status: http.StatusServiceUnavailable, msg: "authentication is not configured on this server"})
		return false
	}
	return true
}

// postToken: POST /auth/tokens.
func (s *server) postToken(c *gin.Context) {
	if !s.needsAuthService(c) {
		return
	}
	bp, err := s.readBody(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var req tokenRequest
	if len(strings.TrimSpace(string(*bp))) > 0 {
		err = unmarshalBody(*bp, &req)
	}
	releaseBody(bp)
	if err != nil {
		s.fail(c, err)
		return
	}
	var ttl time.Duration
	if req.TTLSecs != nil {
		if *req.TTLSecs < 0 || *req.TTLSecs > math.MaxInt64/int64(time.Second) {
			s.fail(c, badRequest("ttl_secs must be >= 0 (0: no expiry), got %d", *req.TTLSecs))
			return
		}
		ttl = time.Duration(*req.TTLSecs) * time.Second
	}
	me := principal(c)
	owner := me
	if req.Owner != "" {
		owner = auth.User(strings.TrimPrefix(req.Owner, "User:"))
	}
	if me == auth.Anonymous {
		// A token is always made by someone who proved who they are.
		s.unauthorized(c, errNoCredentials)
		return
	}
	if c.GetBool(viaTokenKey) {
		// As Kafka's DELEGATION_TOKEN_REQUEST_NOT_ALLOWED: a token (maybe
		// short-lived, maybe stolen) must not mint tokens that outlive it
		// or survive its revocation.
		s.fail(c, &apiError{status: http.StatusForbidden, msg: "a bearer token cannot create tokens: authenticate with a password or a client certificate"})
		return
	}
	if owner != me && !s.authorize(c, kmsg.ACLOperationAlter, kmsg.ACLResourceTypeCluster, clusterResource) {
		return
	}
	secret, info, err := s.cfg.Auth.CreateToken(owner, req.Description, ttl)
	if err != nil {
		s.fail(c, err)
		return
	}
	b, err := json.Marshal(tokenCreated{Token: secret, TokenInfo: info})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Writer.Header().Set("Cache-Control", "no-store")
	writeJSON(c, http.StatusCreated, append(b, '\n'))
}

// getTokens: GET /auth/tokens: the caller's tokens, or every token with
// DESCRIBE on the cluster.
func (s *server) getTokens(c *gin.Context) {
	if !s.needsAuthService(c) {
		return
	}
	if principal(c) == auth.Anonymous {
		// Tokens are managed by someone who proved who they are, even
		// while nothing else needs credentials.
		s.unauthorized(c, errNoCredentials)
		return
	}
	all := s.allowed(c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeCluster, clusterResource)
	me := principal(c).String()
	out := []auth.TokenInfo{}
	for _, t := range s.cfg.Auth.Tokens() {
		if all || t.Owner == me {
			out = append(out, t)
		}
	}
	writeValue(c, http.StatusOK, map[string]any{"tokens": out, "count": len(out)})
}

// deleteToken: DELETE /auth/tokens/{id}: the caller's own token, or any
// with ALTER on the cluster.
func (s *server) deleteToken(c *gin.Context) {
	if !s.needsAuthService(c) {
		return
	}
	if principal(c) == auth.Anonymous {
		s.unauthorized(c, errNoCredentials)
		return
	}
	id := c.Param("id")
	var found *auth.TokenInfo
	for _, t := range s.cfg.Auth.Tokens() {
		if t.ID == id {
			found = &t
			break
		}
	}
	if found == nil {
		s.fail(c, notFound("no token %q", id))
		return
	}
	if found.Owner != principal(c).String() && !s.authorize(c, kmsg.ACLOperationAlter, kmsg.ACLResourceTypeCluster, clusterResource) {
		return
	}
	if err := s.cfg.Auth.RevokeToken(id); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// getWhoami: GET /auth/whoami.
func (s *server) getWhoami(c *gin.Context) {
	p := principal(c)
	b, _ := json.Marshal(map[string]any{
		"principal":     p.String(),
		"authenticated": p != auth.Anonymous,
		"superuser":     s.cfg.Auth != nil && s.cfg.Auth.IsSuperuser(p),
	})
	writeJSON(c, http.StatusOK, append(b, '\n'))
}
