// Package kafka is Zombi's Kafka wire-protocol listener: it frames requests,
// decodes them with kmsg, dispatches each API to its handler (one file per
// API, named by key) and writes responses in request order per connection.
// All data lives in the shared partition log (package log).
package kafka

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/zombi-dev/zombi/auth"
	"github.com/zombi-dev/zombi/kafka/groups"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/stats"
	"github.com/zombi-dev/zombi/txn"
)

// Config configures the Kafka listener.
type Config struct {
	// AdvertisedHost is the host clients are told to connect to; "" means the
	// listener's host, or "localhost" when it listens on all addresses.
	AdvertisedHost string
	// AdvertisedPort is the port clients are told to connect to; 0 means the
	// listener's port.
	AdvertisedPort int32
	// MaxRequestBytes bounds one request frame (default 100 MiB); a larger
	// frame closes the connection.
	MaxRequestBytes int32
	// AutoCreateTopics creates unknown topics on Metadata and Produce.
	AutoCreateTopics bool
	// DefaultPartitions is the partition count of auto-created topics and of
	// CreateTopics with num_partitions -1 (default 1).
	DefaultPartitions int32
	// IdleTimeout closes connections that send nothing for this long
	// (default 10 minutes, Kafka's connections.max.idle.ms).
	IdleTimeout time.Duration
	// GroupInitialRebalanceDelay holds the first rebalance of an empty
	// consumer group so that members starting together share a generation
	// (Kafka's group.initial.rebalance.delay.ms: 3 s by default, 0 in the
	// server.properties Kafka ships; 0 here too).
	GroupInitialRebalanceDelay time.Duration
	// Auth authenticates SASL listeners and authorizes requests; nil: no
	// users and no ACLs (every request allowed, as before security), and no
	// SASL listener.
	Auth *auth.Service
	// MaxConnections caps the open connections over all listeners (default
	// 65536); past it a new connection is closed at once.
	MaxConnections int
	// MaxConnectionsPerIP caps the open connections from one client IP
	// address (0: no cap).
	MaxConnectionsPerIP int
	// AuthTimeout closes a SASL connection that has not authenticated
	// within it (default 10 s).
	AuthTimeout time.Duration
	// SASLMaxReceiveBytes is the largest frame accepted before
	// authentication (default 512 KiB); a larger one closes the connection.
	SASLMaxReceiveBytes int32
	// ReauthMax is Kafka's connections.max.reauth.ms (KIP-368): a SASL
	// session lasts this long, then the connection must re-authenticate
	// before any other request (0: sessions never expire).
	ReauthMax time.Duration
	// TLSHandshakeTimeout bounds the TLS handshake of SSL and SASL_SSL
	// connections (default 10 s).
	TLSHandshakeTimeout time.Duration
	// TransactionMaxTimeout bounds a transactional producer's
	// transaction.timeout.ms (Kafka's transaction.max.timeout.ms; default
	// 15 minutes): above it InitProducerId answers
	// INVALID_TRANSACTION_TIMEOUT.
	TransactionMaxTimeout time.Duration
	// ProducerIDBlock, in cluster mode, takes a block of producer ids no
	// other node will hand out (etcd's pid/next); nil: one node, ids from
	// the clock and the stored ceiling.
	ProducerIDBlock func(ctx context.Context) (first, last int64, err error)
	// Cluster is cluster mode: who leads each partition, the live nodes,
	// topic changes and replication waits (cluster.go). nil: one node,
	// node 1, leader of everything, every answer as before.
	Cluster Cluster
	// InterBrokerOpts are added to this node's clients to the other nodes
	// in cluster mode (transaction markers, produce verification; TLS and
	// SASL of the listener they use), as cluster.RuntimeOptions.KgoOpts
	// are to the replica fetchers'.
	InterBrokerOpts []kgo.Opt
	// InterBrokerListener names the listener those clients dial on the
	// other nodes (Kafka's inter.broker.listener.name); "" is PLAINTEXT.
	InterBrokerListener string
}

// Defaults.
const (
	DefaultMaxRequestBytes = 100 << 20
	DefaultIdleTimeout     = 10 * time.Minute
	// DefaultMaxConnections is ZOMBI_MAX_CONNECTIONS's default.
	DefaultMaxConnections = 65536
	// DefaultAuthTimeout is ZOMBI_AUTH_TIMEOUT_MS's default.
	DefaultAuthTimeout = 10 * time.Second
	// DefaultSASLMaxReceiveBytes is ZOMBI_SASL_MAX_RECEIVE_BYTES's default
	// (Kafka's sasl.server.max.receive.size).
	DefaultSASLMaxReceiveBytes = 512 << 10
	// DefaultTLSHandshakeTimeout bounds a TLS handshake.
	DefaultTLSHandshakeTimeout = 10 * time.Second
	// NodeID is the id of the one broker; it is also the controller and the
	// group coordinator.
	NodeID = 1
	// ClusterID is reported in Metadata and DescribeCluster.
	ClusterID = "zombi"
	// bodyTimeout bounds how long a client may take to send the rest of a
	// request once its size has arrived.
	bodyTimeout = 60 * time.Second
	// writeTimeout bounds writing one response.
	writeTimeout = 60 * time.Second
	// maxInFlight is how many requests of one connection are read ahead
	// while an earlier one is processed.
	maxInFlight = 8
)

// Server serves the Kafka protocol on top of a partition log.
type Server struct {
	log    *plog.Log
	st     *stats.Stats
	cfg    Config
	logger *slog.Logger

	ctx    context.Context // cancelled by Close: ends long polls
	cancel context.CancelFunc

	mu        sync.Mutex
	listeners map[net.Listener]*listenerInfo
	conns     map[net.Conn]*listenerInfo // open connections and their listener
	pipes     map[net.Conn]*queued       // the request queue of each conn past its handshakes
	perIP     map[netip.Addr]int         // open connections per client IP, when capped
	closed    bool
	drainC    chan struct{} // closed (under mu) when Drain begins: long polls answer now
	wg        sync.WaitGroup

	// defaultListener is the first listener served: its advertised address
	// answers requests that come without a connection (the fuzz target)
	// and DescribeConfigs' advertised.listeners.
	defaultListener atomic.Pointer[listenerInfo]

	sec securityCounters

	// saslAuth is cfg.Auth as the SASL listeners use it (nil: no SASL
	// listener); an interface so that tests can drive the state machine
	// with a fake mechanism.
	saslAuth saslAuthenticator

	pidMu      sync.Mutex
	lastPID    int64 // last producer id handed out
	pidCeiling int64 // stored bound: ids below it may have been handed out
	pidLast    int64 // cluster mode: the last id of the block in hand (0: none)

	groups       *groups.Coordinator // the classic group coordinator (kafka/groups)
	groupsLoaded coordLoaded         // cluster mode: __consumer_offsets partitions loaded here (coord_hooks.go)
	txn          *txn.Coordinator    // the transaction coordinator (package txn)
	tc           *txnCluster         // its cluster-mode part (txn_cluster_store.go); nil on one node

	topicIDCache sync.Map // [16]byte topic id -> topic name
}

// NewServer returns a server over l. st may be nil (no counters); logger may
// be nil (slog.Default).
func NewServer(l *plog.Log, st *stats.Stats, cfg Config, logger *slog.Logger) *Server {
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if cfg.DefaultPartitions <= 0 {
		cfg.DefaultPartitions = 1
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = DefaultMaxConnections
	}
	if cfg.AuthTimeout <= 0 {
		cfg.AuthTimeout = DefaultAuthTimeout
	}
	if cfg.SASLMaxReceiveBytes <= 0 {
		cfg.SASLMaxReceiveBytes = DefaultSASLMaxReceiveBytes
	}
	if cfg.TLSHandshakeTimeout <= 0 {
		cfg.TLSHandshakeTimeout = DefaultTLSHandshakeTimeout
	}
	if logger == nil {
		logger = slog.Default()
	}
	if st == nil {
		st = stats.New()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		log:       l,
		st:        st,
		cfg:       cfg,
		logger:    logger.With("component", "kafka"),
		ctx:       ctx,
		cancel:    cancel,
		drainC:    make(chan struct{}),
		listeners: map[net.Listener]*listenerInfo{},
		conns:     map[net.Conn]*listenerInfo{},
		pipes:     map[net.Conn]*queued{},
		perIP:     map[netip.Addr]int{},
		groups:    groups.New(groups.Config{Logger: logger, InitialRebalanceDelay: cfg.GroupInitialRebalanceDelay}),
	}
	if cfg.Auth != nil {
		s.saslAuth = cfg.Auth
	}
	s.newTransactions(l, cfg, logger) // txn_cluster_store.go
	s.installCoordinatorHooks()
	return s
}

// StartTransactions loads the transaction coordinator's state and aborts
// the transactions a crash left open (NewServer installed the coordinator as
// the log's transaction verifier); run it before serving (a transactional request would start it
// too, but recovery belongs to startup). Close stops it.
func (s *Server) StartTransactions() error {
	return s.txn.Start()
}

// transactions returns the started transaction coordinator, or nil (the
// handlers answer COORDINATOR_NOT_AVAILABLE, retriable) when its state
// cannot be loaded.
func (s *Server) transactions() *txn.Coordinator {
	if s.txn.Started() {
		return s.txn
	}
	if err := s.StartTransactions(); err != nil {
		s.logger.Warn("start the transaction coordinator", "err", err)
		return nil
	}
	return s.txn
}

// Serve accepts PLAINTEXT connections on ln: ServeListener(ln,
// Listener{Protocol: PlainText}).
func (s *Server) Serve(ln net.Listener) error {
	return s.ServeListener(ln, Listener{Protocol: PlainText})
}

// ServeListener accepts connections on ln, with l's security protocol and
// advertised address, until Close. It returns nil after Close (also when
// Close came first), an error when ln fails, and an error without serving
// (ln left open) when l is unusable: an unknown protocol, SSL without a TLS
// configuration, SASL without Config.Auth, a bad advertised address.
func (s *Server) ServeListener(ln net.Listener, l Listener) error {
	li, err := s.newListenerInfo(ln, l)
	if err != nil {
		return err
	}
	li.name = string(li.protocol) + "://" + ln.Addr().String()
	s.mu.Lock()
	if s.closed {
		// Close won the race with Serve: same outcome as Serve then Close.
		s.mu.Unlock()
		_ = ln.Close()
		return nil
	}
	s.listeners[ln] = li
	s.defaultListener.CompareAndSwap(nil, li)
	s.mu.Unlock()
	s.logger.Info("kafka listener started", "protocol", string(li.protocol), "addr", ln.Addr().String(),
		"advertised", net.JoinHostPort(li.host, strconv.Itoa(int(li.port))))

	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed || s.drainingNow()
			s.mu.Unlock()
			if closed {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				s.mu.Lock()
				delete(s.listeners, ln)
				s.mu.Unlock()
				return err
			}
			// Too many open files and the like: back off rather than spin.
			s.logger.Warn("accept", "err", err)
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		ip := remoteIP(nc)
		s.mu.Lock()
		if s.closed || s.drainingNow() {
			s.mu.Unlock()
			_ = nc.Close()
			return nil
		}
		if refused := s.admitLocked(ip); refused != nil {
			s.mu.Unlock()
			refused.Add(1)
			// Reset rather than close: a flood past the cap leaves no
			// TIME_WAIT sockets behind on the server.
			if tc, ok := nc.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			_ = nc.Close()
			continue
		}
		s.conns[nc] = li
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.serveConn(nc, li)
			s.mu.Lock()
			delete(s.conns, nc)
			delete(s.pipes, nc)
			s.releaseLocked(ip)
			s.mu.Unlock()
		}()
	}
}

// remoteIP is the client's IP address (the zero Addr when the connection
// is not TCP: then no per-IP cap applies).
func remoteIP(nc net.Conn) netip.Addr {
	if ta, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// admitLocked applies the connection caps to a new connection from ip and
// counts it in; it returns the counter of the cap that refuses it, or nil.
// Callers hold s.mu.
func (s *Server) admitLocked(ip netip.Addr) *atomic.Uint64 {
	if len(s.conns) >= s.cfg.MaxConnections {
		return &s.sec.refusedMaxConnections
	}
	if s.cfg.MaxConnectionsPerIP > 0 && ip.IsValid() {
		if s.perIP[ip] >= s.cfg.MaxConnectionsPerIP {
			return &s.sec.refusedPerIP
		}
		s.perIP[ip]++
	}
	return nil
}

// releaseLocked counts a connection from ip out. Callers hold s.mu.
func (s *Server) releaseLocked(ip netip.Addr) {
	if s.cfg.MaxConnectionsPerIP > 0 && ip.IsValid() {
		if n := s.perIP[ip] - 1; n > 0 {
			s.perIP[ip] = n
		} else {
			delete(s.perIP, ip)
		}
	}
}

// drainQuiet is how long a connection must have been idle before Drain
// closes it.
const drainQuiet = 100 * time.Millisecond

// Drain is a graceful stop before Close: it stops accepting and closes
// each connection once no request of it is queued or in progress (for
// drainQuiet; a Fetch long poll answers at once with what there is), so that
// a request already sent is answered (after a controlled shutdown: with
// NOT_LEADER_OR_FOLLOWER and the new leader, KIP-951) instead of cut off
// with the connection, which leaves a client to find the new leader by a
// metadata refresh of its own pace. It returns when every connection is
// closed or ctx ends; Close ends what is left.
func (s *Server) Drain(ctx context.Context) {
	s.mu.Lock()
	if !s.drainingNow() {
		close(s.drainC)
	}
	for ln := range s.listeners {
		_ = ln.Close()
	}
	s.mu.Unlock()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		now := time.Now()
		s.mu.Lock()
		open := 0
		for nc := range s.conns {
			q := s.pipes[nc]
			if q == nil {
				// Still in its TLS or SASL handshake: no request yet.
				_ = nc.Close()
				continue
			}
			if q.closeIfIdle(now, drainQuiet) {
				_ = nc.Close()
				continue
			}
			open++
		}
		s.mu.Unlock()
		if open == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// drainingNow reports whether Drain has begun.
func (s *Server) drainingNow() bool {
	select {
	case <-s.drainC:
		return true
	default:
		return false
	}
}

// Close stops accepting, closes all connections and waits for their
// handlers to finish.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	s.cancel()
	s.groups.Close() // waiting JoinGroup/SyncGroup get COORDINATOR_NOT_AVAILABLE
	s.closeTransactions()
	for ln := range s.listeners {
		_ = ln.Close()
	}
	for nc := range s.conns {
		_ = nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// advertised returns the host and port of the first listener, for
// DescribeConfigs' advertised.listeners.
func (s *Server) advertised() (string, string) {
	h, p := s.advertisedHostPort(context.Background())
	return h, strconv.Itoa(int(p))
}

// advertisedHostPort returns the advertised address of the listener the
// request's connection came in on, as Kafka answers Metadata,
// FindCoordinator and DescribeCluster.
func (s *Server) advertisedHostPort(ctx context.Context) (string, int32) {
	li := s.defaultListener.Load()
	if ci := connInfoFrom(ctx); ci != nil && ci.listener != nil {
		li = ci.listener
	}
	if li == nil {
		host := s.cfg.AdvertisedHost
		if host == "" {
			host = "localhost"
		}
		return host, s.cfg.AdvertisedPort
	}
	return li.host, li.port
}
