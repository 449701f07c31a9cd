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
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zombi-dev/zombi/auth"
	"github.com/zombi-dev/zombi/kafka/groups"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/stats"
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
	// users and no ACLs (every request allowed, as before security).
	Auth *auth.Service
}

// Defaults.
const (
	DefaultMaxRequestBytes = 100 << 20
	DefaultIdleTimeout     = 10 * time.Minute
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
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	closed    bool
	wg        sync.WaitGroup

	advHost atomic.Pointer[string]
	advPort atomic.Int32

	pidMu      sync.Mutex
	lastPID    int64 // last producer id handed out
	pidCeiling int64 // stored bound: ids below it may have been handed out

	groups *groups.Coordinator // the classic group coordinator (kafka/groups)

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
		listeners: map[net.Listener]struct{}{},
		conns:     map[net.Conn]struct{}{},
		groups:    groups.New(groups.Config{Logger: logger, InitialRebalanceDelay: cfg.GroupInitialRebalanceDelay}),
	}
	if cfg.AdvertisedHost != "" {
		h := cfg.AdvertisedHost
		s.advHost.Store(&h)
	}
	s.advPort.Store(cfg.AdvertisedPort)
	return s
}

// Serve accepts connections on ln until Close; it returns nil after Close
// (also when Close came first), and an error only when ln fails.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		// Close won the race with Serve: same outcome as Serve then Close.
		s.mu.Unlock()
		_ = ln.Close()
		return nil
	}
	s.listeners[ln] = struct{}{}
	s.setAdvertised(ln.Addr())
	s.mu.Unlock()
	s.logger.Info("kafka listener started", "addr", ln.Addr().String(), "advertised", net.JoinHostPort(s.advertised()))

	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
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
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = nc.Close()
			return nil
		}
		s.conns[nc] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.serveConn(nc)
			s.mu.Lock()
			delete(s.conns, nc)
			s.mu.Unlock()
		}()
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

// setAdvertised fills in the advertised host and port from the listener's
// address where the configuration leaves them open. Callers hold s.mu.
func (s *Server) setAdvertised(addr net.Addr) {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return
	}
	if s.advHost.Load() == nil {
		ip := net.ParseIP(host)
		if host == "" || ip != nil && ip.IsUnspecified() {
			host = "localhost"
		}
		s.advHost.Store(&host)
	}
	if s.advPort.Load() == 0 {
		if p, err := strconv.Atoi(port); err == nil {
			s.advPort.Store(int32(p))
		}
	}
}

// advertised returns the host and port clients should connect to.
func (s *Server) advertised() (string, string) {
	h, p := s.advertisedHostPort()
	return h, strconv.Itoa(int(p))
}

func (s *Server) advertisedHostPort() (string, int32) {
	host := "localhost"
	if h := s.advHost.Load(); h != nil {
		host = *h
	}
	return host, s.advPort.Load()
}
