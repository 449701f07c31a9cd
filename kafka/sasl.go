package kafka

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"slices"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/auth"
)

// The SASL state machine of a connection on a SASL_PLAINTEXT or SASL_SSL
// listener (Kafka's SaslServerAuthenticator):
//
//	start ──SaslHandshake v1──▶ handshook ──SaslAuthenticate…──▶ done
//	  │ ApiVersions (stays)        │ anything else: ILLEGAL_SASL_STATE, close
//	  └─SaslHandshake v0──▶ raw ──raw length-prefixed tokens…──▶ done
//	start: anything else closes the connection at once.
//	done ──SaslHandshake v1 (KIP-368 re-authentication)──▶ reauth
//	       ──SaslAuthenticate…──▶ done (same principal, else close)
//	done, session expired: anything but SaslHandshake/SaslAuthenticate closes.
//
// Until done, serveConn reads one frame at a time (authenticate), capped at
// SASLMaxReceiveBytes and under the AuthTimeout deadline; raw tokens are
// read there too. From done on, the normal pipeline runs and process asks
// gate for each request: two atomic loads (a clock read only once the
// session's timer has fired). SaslHandshake and SaslAuthenticate are never
// on the reader's Produce fast path, so the state changes only on the
// processing goroutine.
type saslState uint32

const (
	saslStart     saslState = iota // nothing yet: ApiVersions, SaslHandshake
	saslHandshook                  // SaslHandshake v1 done: SaslAuthenticate only
	saslRaw                        // SaslHandshake v0 done: raw tokens
	saslDone                       // authenticated
	saslReauth                     // re-authentication started: SaslAuthenticate only
)

// saslAuthenticator is what SASL listeners need of *auth.Service.
type saslAuthenticator interface {
	Mechanisms() []string
	NewSASL(mechanism string) (auth.SASLSession, error)
}

// saslConn is the SASL state of one connection.
type saslConn struct {
	s      *Server
	ci     *connInfo
	state  atomic.Uint32 // saslState
	expiry atomic.Int64  // unix ns when the session ends; 0: never
	// mayExpire is set by a timer at expiry, so that gate reads the clock
	// (about 100 ns on some virtual machines) only then, not per request.
	mayExpire atomic.Bool
	timer     *time.Timer // sets mayExpire; nil until a session expires

	// Touched only while authenticating or by the SASL handlers, one at
	// a time.
	mech string
	sess auth.SASLSession
}

func newSASLConn(s *Server, ci *connInfo) *saslConn { return &saslConn{s: s, ci: ci} }

var (
	errUnauthenticated  = fmt.Errorf("%w: request before SASL authentication", errProtocol)
	errIllegalSASLState = fmt.Errorf("%w: request out of SASL order", errProtocol)
	errSessionExpired   = fmt.Errorf("%w: SASL session expired, re-authentication required", errProtocol)
	errSASLFailed       = errors.New("SASL authentication failed")
)

// preAuthDirectBytes is the largest pre-authentication frame whose buffer
// is allocated before its bytes arrive.
const preAuthDirectBytes = 4 << 10

// saslFailedMessage is the one message of a failed authentication, the same
// whatever went wrong (unknown user, wrong password, malformed message).
const saslFailedMessage = "Authentication failed: invalid credentials"

// gate says whether a request with key may be processed in the current
// state; an error refuses it (refuseRequest).
func (c *saslConn) gate(key int16) error {
	st := saslState(c.state.Load())
	if st == saslDone {
		if key == kmsg.SASLHandshake.Int16() || key == kmsg.SASLAuthenticate.Int16() {
			return nil
		}
		if c.mayExpire.Load() && time.Now().UnixNano() > c.expiry.Load() {
			c.s.sec.reauthExpired.Add(1)
			return errSessionExpired
		}
		return nil
	}
	switch {
	case st == saslStart && (key == kmsg.ApiVersions.Int16() || key == kmsg.SASLHandshake.Int16()):
		return nil
	case st == saslStart:
		c.s.sec.unauthenticated.Add(1)
		return errUnauthenticated
	case key == kmsg.SASLAuthenticate.Int16() || key == kmsg.SASLHandshake.Int16():
		return nil // the handlers check the state and answer ILLEGAL_SASL_STATE
	default:
		c.s.sec.unauthenticated.Add(1)
		return errIllegalSASLState
	}
}

// refuseRequest answers a request gate refused: ILLEGAL_SASL_STATE in the
// request's own response when it has a top-level error code at its
// version, then the connection closes; otherwise it just closes.
func refuseRequest(h requestHeader, req kmsg.Request, body []byte, why error) ([]byte, error) {
	if !errors.Is(why, errIllegalSASLState) || h.version > req.MaxVersion() {
		return nil, why
	}
	resp := errorResponse(req, kerr.IllegalSaslState.Code)
	if m, ok := req.(*kmsg.MetadataRequest); ok && req.ReadFrom(body) == nil {
		// No top-level error code: Kafka puts the error on each topic
		// asked for (MetadataRequest.getErrorResponse).
		resp = metadataErrorResponse(m, kerr.IllegalSaslState.Code)
	}
	if resp == nil {
		return nil, why
	}
	return encodeResponse(h, resp, req.IsFlexible() && h.key != kmsg.ApiVersions.Int16()), fmt.Errorf("%w: %w", errCloseAfterResponse, why)
}

// metadataErrorResponse answers every topic of req with code; nil when req
// asks for all topics (there is nowhere to put the code).
func metadataErrorResponse(req *kmsg.MetadataRequest, code int16) kmsg.Response {
	if len(req.Topics) == 0 {
		return nil
	}
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	resp.SetVersion(req.GetVersion())
	for _, t := range req.Topics {
		rt := kmsg.NewMetadataResponseTopic()
		rt.Topic, rt.TopicID, rt.ErrorCode = t.Topic, t.TopicID, code
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// errorResponse returns req's response with its top-level ErrorCode set to
// code, or nil when the response has none at req's version. (Rare path:
// reflection is fine.)
func errorResponse(req kmsg.Request, code int16) kmsg.Response {
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	f := reflect.ValueOf(resp).Elem().FieldByName("ErrorCode")
	if !f.IsValid() || f.Kind() != reflect.Int16 {
		return nil
	}
	without := resp.AppendTo(nil)
	f.SetInt(int64(code))
	if bytes.Equal(without, resp.AppendTo(nil)) {
		return nil // the field is not encoded at this version
	}
	return resp
}

// authenticate runs a SASL connection until it is authenticated: one frame
// at a time, each at most SASLMaxReceiveBytes, all within AuthTimeout.
// Kafka requests go through process (gate, then the handlers); after a v0
// SaslHandshake the frames are raw SASL tokens, answered raw.
func (s *Server) authenticate(ctx context.Context, nc net.Conn, br *bufio.Reader, c *saslConn) error {
	_ = nc.SetDeadline(time.Now().Add(s.cfg.AuthTimeout))
	var sizeBuf [4]byte
	for saslState(c.state.Load()) != saslDone {
		if _, err := io.ReadFull(br, sizeBuf[:]); err != nil {
			return s.preAuthErr(err)
		}
		size := binary.BigEndian.Uint32(sizeBuf[:])
		if size > uint32(s.cfg.SASLMaxReceiveBytes) {
			s.sec.oversizedPreAuth.Add(1)
			return fmt.Errorf("%w: frame of %d bytes before authentication (max %d)", errProtocol, size, s.cfg.SASLMaxReceiveBytes)
		}
		// Real SASL frames are < 1 KiB: a larger announced frame gets its
		// memory as its bytes arrive, so that unauthenticated clients
		// announcing SASLMaxReceiveBytes and sending nothing cost little.
		buf, err := readNFrom(br, int(size), preAuthDirectBytes)
		if err != nil {
			return s.preAuthErr(err)
		}
		var out []byte
		if saslState(c.state.Load()) == saslRaw {
			out, err = c.rawStep(ctx, buf)
		} else {
			out, err = s.handleFrame(ctx, buf)
		}
		if out != nil {
			if _, werr := nc.Write(out); werr != nil {
				return s.preAuthErr(werr)
			}
		}
		if err != nil {
			return err
		}
	}
	_ = nc.SetDeadline(time.Time{})
	return nil
}

// preAuthErr counts a read or write that hit the authentication deadline.
func (s *Server) preAuthErr(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		s.sec.authTimeouts.Add(1)
		return fmt.Errorf("not authenticated within %v: %w", s.cfg.AuthTimeout, err)
	}
	return err
}

// rawStep answers one raw token after a v0 SaslHandshake (kafka-python,
// old librdkafka): the reply is a raw length-prefixed token (empty for
// PLAIN: four zero bytes, which clients wait for). A failure closes the
// connection without a reply, as Kafka does.
func (c *saslConn) rawStep(ctx context.Context, token []byte) ([]byte, error) {
	out, done, err := c.sess.Step(ctx, token)
	if err != nil {
		c.failed(err)
		return nil, fmt.Errorf("%w: %w", errSASLFailed, err)
	}
	if done {
		c.succeeded()
	}
	return append(binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(out)), uint32(len(out))), out...), nil
}

// handshake answers a SaslHandshake (17_sasl_handshake.go).
func (c *saslConn) handshake(req *kmsg.SASLHandshakeRequest, resp *kmsg.SASLHandshakeResponse) error {
	mechs := c.s.saslAuth.Mechanisms()
	resp.SupportedMechanisms = mechs
	st := saslState(c.state.Load())
	switch {
	case st == saslStart:
	case st == saslDone && req.Version >= 1:
		// KIP-368 re-authentication: same mechanism (Kafka refuses a
		// change).
		if req.Mechanism != c.mech {
			resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
			return fmt.Errorf("%w: re-authentication with %q, authenticated with %q", errCloseAfterResponse, req.Mechanism, c.mech)
		}
	default:
		// A second handshake, or v0 (raw tokens) on an authenticated
		// connection whose pipeline reads Kafka frames.
		c.s.sec.unauthenticated.Add(1)
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return fmt.Errorf("%w: SaslHandshake v%d in SASL state %d", errCloseAfterResponse, req.Version, st)
	}
	if !slices.Contains(mechs, req.Mechanism) {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		return fmt.Errorf("%w: mechanism %q not enabled", errCloseAfterResponse, req.Mechanism)
	}
	sess, err := c.s.saslAuth.NewSASL(req.Mechanism)
	if err != nil {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		return fmt.Errorf("%w: mechanism %q: %w", errCloseAfterResponse, req.Mechanism, err)
	}
	c.mech, c.sess = req.Mechanism, sess
	switch {
	case st == saslDone:
		c.state.Store(uint32(saslReauth))
	case req.Version == 0:
		c.state.Store(uint32(saslRaw))
	default:
		c.state.Store(uint32(saslHandshook))
	}
	return nil
}

// authenticateStep answers a SaslAuthenticate (36_sasl_authenticate.go).
func (c *saslConn) authenticateStep(ctx context.Context, req *kmsg.SASLAuthenticateRequest, resp *kmsg.SASLAuthenticateResponse) error {
	st := saslState(c.state.Load())
	if st != saslHandshook && st != saslReauth {
		c.s.sec.unauthenticated.Add(1)
		resp.ErrorCode = kerr.IllegalSaslState.Code
		msg := "SaslAuthenticate without a SaslHandshake"
		resp.ErrorMessage = &msg
		return fmt.Errorf("%w: SaslAuthenticate in SASL state %d", errCloseAfterResponse, st)
	}
	out, done, err := c.sess.Step(ctx, req.SASLAuthBytes)
	if err == nil && done && st == saslReauth && c.sess.Principal() != c.ci.principal {
		err = fmt.Errorf("re-authentication as %s on a connection of %s", c.sess.Principal(), c.ci.principal)
	}
	if err != nil {
		c.failed(err)
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := saslFailedMessage
		resp.ErrorMessage = &msg
		return fmt.Errorf("%w: %w: %w", errCloseAfterResponse, errSASLFailed, err)
	}
	resp.SASLAuthBytes = out
	if done {
		c.succeeded()
		if c.s.cfg.ReauthMax > 0 {
			resp.SessionLifetimeMillis = c.s.cfg.ReauthMax.Milliseconds()
		}
	}
	return nil
}

// succeeded ends an exchange: the connection is authenticated (first time:
// its principal is set; re-authentication: checked equal before) and its
// session, when sessions expire, starts now.
func (c *saslConn) succeeded() {
	if saslState(c.state.Load()) != saslReauth {
		c.ci.principal = c.sess.Principal()
	}
	c.sess = nil
	if d := c.s.cfg.ReauthMax; d > 0 {
		c.expiry.Store(time.Now().Add(d).UnixNano())
		c.mayExpire.Store(false)
		// A stale fire of the previous timer only makes gate read the
		// clock; expiry decides.
		if c.timer == nil {
			c.timer = time.AfterFunc(d, func() { c.mayExpire.Store(true) })
		} else {
			c.timer.Reset(d)
		}
	}
	c.state.Store(uint32(saslDone))
}

// stop releases the session timer when the connection ends.
func (c *saslConn) stop() {
	if c.timer != nil {
		c.timer.Stop()
	}
}

// failed counts and logs a failed exchange (never the client's message).
func (c *saslConn) failed(err error) {
	c.s.sec.authFailures.Add(1)
	c.sess = nil
	c.s.logger.Info("SASL authentication failed", "remote", c.ci.host[1:], "mechanism", c.mech, "err", err)
}
