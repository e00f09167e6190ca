package stream

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// RequestBytesMax bounds a request the embedded broker accepts. Kafka's own
// socket.request.max.bytes is 100 MiB, but kfake allocates a request's size
// before reading it, so each connection could pin that much: the clients
// here send produce batches of at most 1 MB (franz-go's and kcat's
// defaults), and every other request is small.
const RequestBytesMax = 16 << 20

// refusedConns counts connections the embedded broker closed for a request
// over RequestBytesMax.
var refusedConns = metrics.GetOrCreateCounter("internal_transfer_embedded_broker_refused_connections_total")

// frameLimitListener hands out connections that refuse oversized requests.
//
// A Kafka request starts with its size (4 bytes, big-endian), and kfake
// allocates that many bytes before it reads the body. Anything that is not
// a Kafka client sends a size that is really the first 4 bytes of its own
// protocol: an HTTP "GET " is a request of 1.1 GiB, which the gateway then
// held for as long as the connection stayed open (found when a curl to
// every port of the service sent its heap from 150 MB to 1.3 GB). The
// limit is checked before kfake sees the size's last byte.
type frameLimitListener struct {
	net.Listener
	max int
	log *slog.Logger // nil: no log

	mu      sync.Mutex
	lastLog time.Time
}

func (l *frameLimitListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &frameLimitConn{Conn: c, l: l}, nil
}

// refused counts and logs (at most once a minute) a closed connection.
func (l *frameLimitListener) refused(remote net.Addr, size uint32) {
	refusedConns.Inc()
	if l.log == nil {
		return
	}
	l.mu.Lock()
	now := time.Now()
	quiet := now.Sub(l.lastLog) < time.Minute
	if !quiet {
		l.lastLog = now
	}
	l.mu.Unlock()
	if !quiet {
		l.log.Warn("embedded Kafka broker closed a connection: not a Kafka client, or a request over the limit",
			"remote", remote.String(), "request_bytes", size, "limit_bytes", l.max)
	}
}

// frameLimitConn follows the request framing of what it reads: head holds
// the size bytes read so far of the next request, body the bytes left of
// the current one. One goroutine reads a connection (kfake's reader), so
// it needs no lock.
type frameLimitConn struct {
	net.Conn
	l     *frameLimitListener
	head  [4]byte
	nhead int
	body  uint64
}

func (c *frameLimitConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	for b := p[:n]; len(b) > 0; {
		if c.body > 0 {
			k := min(uint64(len(b)), c.body)
			c.body -= k
			b = b[k:]
			continue
		}
		c.head[c.nhead] = b[0]
		c.nhead++
		b = b[1:]
		if c.nhead < len(c.head) {
			continue
		}
		c.nhead = 0
		size := binary.BigEndian.Uint32(c.head[:])
		if int64(size) > int64(c.l.max) {
			c.l.refused(c.RemoteAddr(), size)
			_ = c.Conn.Close()
			return 0, fmt.Errorf("embedded broker: request of %d bytes is over the limit of %d: not a Kafka client?", size, c.l.max)
		}
		c.body = uint64(size)
	}
	return n, err
}
