package transfers

import (
	"fmt"
	"sync"
	"time"
)

// Request ids are 63-bit, roughly time-ordered and unique across nodes:
// milliseconds since idEpoch (41 bits, ~69 years) | node (10 bits) |
// sequence within the millisecond (12 bits). A store refuses a duplicate id,
// so a clock stepping back across a restart costs a retry (Past), never a
// collision.
const (
	idNodeBits = 10
	idSeqBits  = 12
	idSeqMax   = 1<<idSeqBits - 1
	// NodeIDMax is the largest node id.
	NodeIDMax = 1<<idNodeBits - 1
)

var idEpoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// IDGenerator hands out request ids for one node.
type IDGenerator struct {
	mu     sync.Mutex
	node   uint64
	lastMS uint64
	seq    uint64
	now    func() time.Time
}

// NewIDGenerator returns a generator for node (0..NodeIDMax).
func NewIDGenerator(node int, now func() time.Time) (*IDGenerator, error) {
	if node < 0 || node > NodeIDMax {
		return nil, fmt.Errorf("node id %d out of range 0..%d", node, NodeIDMax)
	}
	if now == nil {
		now = time.Now
	}
	return &IDGenerator{node: uint64(node), now: now}, nil
}

// Next returns a new id, strictly greater than the previous one.
func (g *IDGenerator) Next() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	ms := uint64(g.now().Sub(idEpoch).Milliseconds())
	if ms <= g.lastMS { // same millisecond, or the clock stepped back
		g.seq++
		if g.seq > idSeqMax { // borrow from the next millisecond
			g.lastMS++
			g.seq = 0
		}
	} else {
		g.lastMS, g.seq = ms, 0
	}
	return g.lastMS<<(idNodeBits+idSeqBits) | g.node<<idSeqBits | g.seq
}

// Past moves the generator beyond used, an id found already stored (the
// clock stepped back across a restart): the next id is in a later
// millisecond than used's, as the rest of used's millisecond was probably
// taken too.
func (g *IDGenerator) Past(used uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if ms := used >> (idNodeBits + idSeqBits); ms >= g.lastMS {
		g.lastMS, g.seq = ms, idSeqMax
	}
}

// IDTime returns the time encoded in a request id.
func IDTime(id uint64) time.Time {
	return idEpoch.Add(time.Duration(id>>(idNodeBits+idSeqBits)) * time.Millisecond)
}
