package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
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
		return nil, connectError(eps, cfg, err)
	}
	if _, err := cli.Get(cctx, cfg.Prefix()+nodesPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil {
		cli.Close()
		return nil, connectError(eps, cfg, err)
	}
	return cli, nil
}

// connectError is one line: what failed, where, and which setting to check.
func connectError(eps string, cfg Config, err error) error {
	switch {
	case errors.Is(err, rpctypes.ErrAuthFailed) || errors.Is(err, rpctypes.ErrGRPCAuthFailed):
		return fmt.Errorf("etcd at %s refused user %q (ZOMBI_ETCD_USERNAME, ZOMBI_ETCD_PASSWORD): %w", eps, cfg.Username, err)
	case errors.Is(err, rpctypes.ErrPermissionDenied) || errors.Is(err, rpctypes.ErrGRPCPermissionDenied) ||
		errors.Is(err, rpctypes.ErrUserEmpty) || errors.Is(err, rpctypes.ErrGRPCUserEmpty):
		return fmt.Errorf("etcd at %s denies access to %s (ZOMBI_ETCD_USERNAME): %w", eps, cfg.Prefix(), err)
	case errors.Is(err, context.DeadlineExceeded):
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
