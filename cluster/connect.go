package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// connectTimeout bounds Connect's first round trip: etcd unreachable at
// start is an error well inside 10 s, never a hang.
const connectTimeout = 5 * time.Second

// Connect opens an etcd client for cfg (endpoints, TLS, user and password)
// and checks that etcd answers with one bounded read under the cluster's
// prefix, because clientv3 dials lazily. The error names the endpoints and
// the setting; it never carries the password.
func Connect(ctx context.Context, cfg Config) (*clientv3.Client, error) {
	if !cfg.Enabled() {
		return nil, errors.New("cluster: no etcd endpoints (ZOMBI_ETCD_ENDPOINTS)")
	}
	eps := strings.Join(cfg.Endpoints, ",")
	tlsCfg, err := etcdTLS(cfg)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: cfg.Endpoints,
		// Bounds the authentication round trip New makes with a user.
		DialTimeout:          connectTimeout,
		DialKeepAliveTime:    5 * time.Second,
		DialKeepAliveTimeout: 3 * time.Second,
		TLS:                  tlsCfg,
		Username:             cfg.Username,
		Password:             cfg.Password,
		Context:              context.WithoutCancel(ctx),
		// Zombi logs with slog; the client's own zap output would be a
		// second format on stderr. Its failures reach us as errors.
		Logger: zap.NewNop(),
	})
	if err != nil {
		return nil, connectError(eps, cfg, tlsCfg, err)
	}
	if _, err := cli.Get(cctx, cfg.Prefix()+nodesPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil {
		cli.Close()
		return nil, connectError(eps, cfg, tlsCfg, err)
	}
	return cli, nil
}

// connectError is one line: what failed, where, and which setting to check.
func connectError(eps string, cfg Config, tlsCfg *tls.Config, err error) error {
	switch {
	case errors.Is(err, rpctypes.ErrAuthFailed) || errors.Is(err, rpctypes.ErrGRPCAuthFailed):
		return fmt.Errorf("etcd at %s refused user %q (ZOMBI_ETCD_USERNAME, ZOMBI_ETCD_PASSWORD): %w", eps, cfg.Username, err)
	case errors.Is(err, rpctypes.ErrPermissionDenied) || errors.Is(err, rpctypes.ErrGRPCPermissionDenied) ||
		errors.Is(err, rpctypes.ErrUserEmpty) || errors.Is(err, rpctypes.ErrGRPCUserEmpty):
		return fmt.Errorf("etcd at %s denies access to %s (ZOMBI_ETCD_USERNAME): %w", eps, cfg.Prefix(), err)
	case errors.Is(err, context.DeadlineExceeded):
		// The client waits for a connection and keeps no reason: dial
		// once ourselves to say why (refused, TLS, ...).
		if why := probe(cfg.Endpoints, tlsCfg); why != "" {
			return fmt.Errorf("etcd unreachable at %s (ZOMBI_ETCD_ENDPOINTS): no answer within %s: %s", eps, connectTimeout, why)
		}
		return fmt.Errorf("etcd unreachable at %s (ZOMBI_ETCD_ENDPOINTS): no answer within %s", eps, connectTimeout)
	}
	return fmt.Errorf("etcd at %s (ZOMBI_ETCD_ENDPOINTS): %w", eps, err)
}

// etcdTLS is the client's TLS configuration: nil for plain http://
// endpoints without certificates; the CA file (else the system's roots)
// and the client certificate otherwise.
func etcdTLS(cfg Config) (*tls.Config, error) {
	https := false
	for _, ep := range cfg.Endpoints {
		if strings.HasPrefix(strings.ToLower(ep), "https://") {
			https = true
		}
	}
	if !https && cfg.CAFile == "" && cfg.CertFile == "" && cfg.KeyFile == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ZOMBI_ETCD_CA_FILE: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ZOMBI_ETCD_CA_FILE %s: no PEM certificate in it", cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	if (cfg.CertFile == "") != (cfg.KeyFile == "") {
		return nil, errors.New("ZOMBI_ETCD_CERT_FILE and ZOMBI_ETCD_KEY_FILE go together")
	}
	if cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("ZOMBI_ETCD_CERT_FILE, ZOMBI_ETCD_KEY_FILE: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// probe dials each endpoint once (TCP, then TLS for https://) and returns
// the first failure, "" when every one answered; it takes at most about
// 1.5 s an endpoint.
func probe(endpoints []string, tlsCfg *tls.Config) string {
	for _, ep := range endpoints {
		u, err := url.Parse(ep)
		if err != nil || u.Host == "" {
			return fmt.Sprintf("%s: not a URL", ep)
		}
		conn, err := net.DialTimeout("tcp", u.Host, time.Second)
		if err != nil {
			return err.Error()
		}
		if u.Scheme == "https" {
			tc := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"h2"}, ServerName: u.Hostname()}
			if tlsCfg != nil {
				tc.RootCAs, tc.Certificates = tlsCfg.RootCAs, tlsCfg.Certificates
			}
			tconn := tls.Client(conn, tc)
			_ = tconn.SetDeadline(time.Now().Add(time.Second))
			err = tconn.Handshake()
			if err == nil {
				// TLS 1.3 servers refuse a missing client certificate
				// after the handshake: read briefly for the alert.
				_ = tconn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
				var b [1]byte
				if _, rerr := tconn.Read(b[:]); rerr != nil && !isTimeout(rerr) {
					err = rerr
				}
			}
			tconn.Close()
			if err != nil {
				return fmt.Sprintf("%s: TLS: %v (ZOMBI_ETCD_CA_FILE, ZOMBI_ETCD_CERT_FILE, ZOMBI_ETCD_KEY_FILE)", ep, err)
			}
			continue
		}
		conn.Close()
	}
	return ""
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
