package embedded

import "github.com/exchange/internal-transfer/ledger"

// recentPending remembers the last committed pending transfers, so the post
// or void that usually follows a hold within milliseconds finds its pending
// transfer in memory instead of through a Pebble iterator. A transfer never
// changes once created (its status is kept apart, under 'P'), so an entry
// is never stale; the oldest are forgotten first. Applier-only: no lock.
type recentPending struct {
	m    map[ledger.Uint128]ledger.Transfer
	ring []ledger.Uint128 // insertion order; zero: free slot
	next int
}

func newRecentPending(n int) recentPending {
	return recentPending{m: make(map[ledger.Uint128]ledger.Transfer, n), ring: make([]ledger.Uint128, n)}
}

// add remembers t, forgetting the oldest entry when full.
func (r *recentPending) add(t *ledger.Transfer) {
	if len(r.ring) == 0 {
		return
	}
	if old := r.ring[r.next]; !old.IsZero() {
		delete(r.m, old)
	}
	r.ring[r.next] = t.ID
	r.m[t.ID] = *t
	r.next++
	if r.next == len(r.ring) {
		r.next = 0
	}
}

// get returns the remembered transfer with id.
func (r *recentPending) get(id ledger.Uint128) (ledger.Transfer, bool) {
	t, ok := r.m[id]
	return t, ok
}

// remember adds the pending transfers g created; g is committed.
func (l *Ledger) remember(g *group) {
	for i := range g.transfers {
		nt := &g.transfers[i]
		if !nt.orphan && nt.t.Flags&ledger.TransferPending != 0 {
			l.recent.add(&nt.t)
		}
	}
}
