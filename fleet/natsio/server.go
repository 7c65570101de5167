package natsio

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ServerConfig configures an embedded NATS server with JetStream.
type ServerConfig struct {
	// Name identifies the server (in a cluster, each its own); default
	// "citypass-hub".
	Name string
	// StoreDir is where JetStream keeps its streams. Required.
	StoreDir string
	// Listen is host:port for clients; default "127.0.0.1:4222"; port 0
	// picks a free port. A host other than loopback requires TLS.
	Listen string
	// TLS, when set, makes clients connect with TLS.
	TLS *tls.Config
	// Operators are NKey public keys with every permission (the hub's own
	// loops and the operator's commands).
	Operators []string
	// Nodes maps node ids to their NKey public keys; each node gets the
	// permissions of NodePermissions.
	Nodes map[string]string
	// Cluster, when set, makes the server a member of an embedded JetStream
	// cluster (tests and the simulator).
	Cluster *ClusterConfig
	// MaxStoreBytes bounds JetStream's file store; default 0 (the server
	// picks from the free disk).
	MaxStoreBytes int64
	// Logger receives the server's notices and errors; default none.
	Logger server.Logger
}

// ClusterConfig makes a server one of an embedded cluster.
type ClusterConfig struct {
	Name   string   // cluster name, the same for every member
	Listen string   // host:port of this member's route listener
	Routes []string // nats-route://host:port of every member
}

// Server is an embedded nats-server with JetStream, every write fsynced
// before it is acknowledged (docs/fleet.md, "Transport"). Safe for
// concurrent use.
type Server struct {
	mu  sync.Mutex
	s   *server.Server
	cfg ServerConfig
}

// ErrInsecureListen reports a non-loopback listen address without TLS.
var ErrInsecureListen = errors.New("natsio: listening beyond loopback requires TLS (--tls-cert and --tls-key)")

// IsLoopback reports whether host (a name or address) is a loopback one.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// StartServer starts an embedded server and waits until it accepts clients
// and its JetStream is ready.
func StartServer(cfg ServerConfig) (*Server, error) {
	opts, err := serverOptions(&cfg)
	if err != nil {
		return nil, err
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsio: starting server: %w", err)
	}
	logs := &fatalCatcher{Logger: cfg.Logger, fatal: make(chan string, 1)}
	if logs.Logger == nil {
		logs.Logger = quietLogger{}
	}
	s.SetLoggerV2(logs, false, false, false)
	s.Start()
	// A listener that cannot bind (a route port taken since it was chosen)
	// makes the server log a fatal error and never become ready: that is
	// reported at once rather than after the whole wait.
	deadline := time.Now().Add(30 * time.Second)
	for !s.ReadyForConnections(100 * time.Millisecond) {
		select {
		case msg := <-logs.fatal:
			s.Shutdown()
			return nil, &listenError{server: opts.ServerName, msg: msg}
		default:
		}
		if time.Now().After(deadline) {
			s.Shutdown()
			return nil, fmt.Errorf("natsio: server %s did not become ready (listen %s)", opts.ServerName, cfg.Listen)
		}
	}
	return &Server{s: s, cfg: cfg}, nil
}

// ErrListen reports that an embedded server could not open one of its
// listeners (most often: the port is in use); test with errors.Is.
var ErrListen = errors.New("natsio: a listener could not be opened")

type listenError struct{ server, msg string }

func (e *listenError) Error() string {
	return fmt.Sprintf("natsio: server %s could not open a listener: %s", e.server, e.msg)
}

func (e *listenError) Unwrap() error { return ErrListen }

// fatalCatcher passes the server's log on to Logger and keeps its first
// fatal message: nats-server's own loggers exit the process on a fatal
// error, which an embedded server must not do.
type fatalCatcher struct {
	server.Logger
	fatal chan string
}

// quietLogger drops the server's log when no Logger is configured.
type quietLogger struct{}

func (quietLogger) Noticef(string, ...any) {}
func (quietLogger) Warnf(string, ...any)   {}
func (quietLogger) Fatalf(string, ...any)  {}
func (quietLogger) Errorf(string, ...any)  {}
func (quietLogger) Debugf(string, ...any)  {}
func (quietLogger) Tracef(string, ...any)  {}

func (l *fatalCatcher) Fatalf(format string, v ...any) {
	l.Errorf(format, v...)
	select {
	case l.fatal <- fmt.Sprintf(format, v...):
	default:
	}
}

func serverOptions(cfg *ServerConfig) (*server.Options, error) {
	if cfg.StoreDir == "" {
		return nil, errors.New("natsio: no JetStream store directory")
	}
	if cfg.Name == "" {
		cfg.Name = "citypass-hub"
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:4222"
	}
	host, portStr, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("natsio: listen address %q: want HOST:PORT", cfg.Listen)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("natsio: listen address %q: bad port", cfg.Listen)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	if !IsLoopback(host) && cfg.TLS == nil {
		return nil, fmt.Errorf("%w: %s", ErrInsecureListen, cfg.Listen)
	}
	opts := &server.Options{
		ServerName: cfg.Name,
		Host:       host,
		Port:       port,
		NoSigs:     true,
		NoLog:      cfg.Logger == nil,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		// Every JetStream write is fsynced before it is acknowledged: the
		// default (a sync every 2 minutes) loses acknowledged writes on an
		// OS crash (docs/fleet.md, "Transport").
		SyncAlways:         true,
		JetStreamMaxStore:  cfg.MaxStoreBytes,
		MaxPayload:         8 << 20,
		JetStreamMaxMemory: 64 << 20,
	}
	if cfg.TLS != nil {
		opts.TLS, opts.TLSConfig, opts.TLSTimeout = true, cfg.TLS, 5
	}
	opts.Nkeys = nkeyUsers(cfg.Operators, cfg.Nodes)
	if cfg.Cluster != nil {
		ch, cp, err := net.SplitHostPort(cfg.Cluster.Listen)
		if err != nil {
			return nil, fmt.Errorf("natsio: cluster listen address %q: %w", cfg.Cluster.Listen, err)
		}
		cport, err := strconv.Atoi(cp)
		if err != nil {
			return nil, fmt.Errorf("natsio: cluster listen address %q: bad port", cfg.Cluster.Listen)
		}
		if cport == 0 {
			cport = server.RANDOM_PORT
		}
		opts.Cluster = server.ClusterOpts{Name: cfg.Cluster.Name, Host: ch, Port: cport}
		for _, r := range cfg.Cluster.Routes {
			u, err := url.Parse(r)
			if err != nil {
				return nil, fmt.Errorf("natsio: route %q: %w", r, err)
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	return opts, nil
}

func nkeyUsers(operators []string, nodes map[string]string) []*server.NkeyUser {
	var users []*server.NkeyUser
	for _, op := range operators {
		users = append(users, &server.NkeyUser{Nkey: op})
	}
	for node, pub := range nodes {
		users = append(users, &server.NkeyUser{Nkey: pub, Permissions: NodePermissions(node)})
	}
	return users
}

// NodePermissions are what a node may do: publish its own taps, ask the
// hub's services in its own name, read the state stream, and receive on
// its own inbox and acknowledgement subjects. Nothing else: it cannot
// publish another node's taps or read another node's replies.
func NodePermissions(node string) *server.Permissions {
	return &server.Permissions{
		Publish: &server.SubjectPermission{Allow: []string{
			TapsSubject(node),
			HubSubject("*", node),
			"$JS.API.CONSUMER.CREATE." + StateStream + ".>",
			"$JS.API.CONSUMER.DELETE." + StateStream + ".>",
			"$JS.API.CONSUMER.INFO." + StateStream + ".>",
			"$JS.API.CONSUMER.MSG.NEXT." + StateStream + ".>",
			"$JS.ACK." + StateStream + ".>",
			"$JS.API.STREAM.INFO." + StateStream,
		}},
		Subscribe: &server.SubjectPermission{Allow: []string{
			InboxPrefix(node) + ".>",
			AckSubject(node),
		}},
	}
}

// SetNodes replaces the enrolled nodes (a reload: connected clients whose
// key is gone are dropped).
func (s *Server) SetNodes(nodes map[string]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg := s.cfg
	cfg.Nodes = nodes
	opts, err := serverOptions(&cfg)
	if err != nil {
		return err
	}
	// Reload keeps the listener: the port picked at start stays.
	opts.Port = s.s.Addr().(*net.TCPAddr).Port
	if cfg.Cluster != nil {
		cur := s.s.ClusterAddr()
		if cur != nil {
			opts.Cluster.Port = cur.Port
		}
	}
	if err := s.s.ReloadOptions(opts); err != nil {
		return fmt.Errorf("natsio: reloading the enrolled nodes: %w", err)
	}
	s.cfg = cfg
	return nil
}

// ClientURL is the URL clients connect to ("nats://127.0.0.1:4222", or
// "tls://…" with TLS).
func (s *Server) ClientURL() string {
	addr := s.s.Addr().(*net.TCPAddr)
	scheme := "nats"
	if s.cfg.TLS != nil {
		scheme = "tls"
	}
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return fmt.Sprintf("%s://%s", scheme, net.JoinHostPort(host, strconv.Itoa(addr.Port)))
}

// ClusterURL is this member's route URL (nats-route://host:port), or "".
func (s *Server) ClusterURL() string {
	a := s.s.ClusterAddr()
	if a == nil {
		return ""
	}
	return fmt.Sprintf("nats-route://%s", net.JoinHostPort(a.IP.String(), strconv.Itoa(a.Port)))
}

// JetStreamReady reports whether JetStream can take writes (in a cluster:
// a meta leader is elected).
func (s *Server) JetStreamReady() bool { return s.s.JetStreamIsCurrent() || s.s.JetStreamIsLeader() }

// Shutdown stops the server and waits until it has stopped.
func (s *Server) Shutdown() {
	s.s.Shutdown()
	s.s.WaitForShutdown()
}
