package load

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/exchange/internal-transfer/ingress/auth"
)

// Account indexes of the two accounts the generator uses.
const (
	funding = 0
	spot    = 1
)

var accountNames = [2]string{"funding", "spot"}

// credit is money accepted into an account, not yet counted as usable
// because settlement may not have posted it.
type credit struct {
	account int
	amount  uint64
	at      time.Time
}

// user is one generated user and the generator's exact books of it.
type user struct {
	id   uint64
	auth []byte // "Bearer <token>"

	mu         sync.Mutex
	busy       bool      // a transfer debiting this user is in flight
	funded     bool      // its deposit was confirmed
	bal        [2]uint64 // expected posted balance: deposit ± definitive successes
	inflightIn [2]uint64 // credits in transfers not answered yet
	fresh      []credit  // accepted credits younger than settleDelay
	seq        uint64    // idempotency key sequence
	unknown    bool      // some transfer of this user has an unknown outcome
}

// settleDelay is how long an accepted credit is not relied upon: the
// destination is credited when settlement posts the hold.
const settleDelay = 2 * time.Second

// freshMax bounds the credits a user remembers as unsettled.
const freshMax = 64

// usable is the balance of account that transfers may rely on now: the
// exact balance minus credits that may not be posted yet. Caller holds mu.
func (u *user) usable(account int, now time.Time) uint64 {
	keep := u.fresh[:0]
	var unsettled uint64
	for _, c := range u.fresh {
		if now.Sub(c.at) < settleDelay {
			keep = append(keep, c)
			if c.account == account {
				unsettled += c.amount
			}
		}
	}
	u.fresh = keep
	if unsettled >= u.bal[account] {
		return 0
	}
	return u.bal[account] - unsettled
}

// addCredit books a definitive credit. Caller holds mu.
func (u *user) addCredit(account int, amount uint64, now time.Time) {
	u.bal[account] += amount
	if len(u.fresh) < freshMax {
		u.fresh = append(u.fresh, credit{account, amount, now})
	} else {
		u.fresh[len(u.fresh)-1].amount += amount // never forget unsettled money
		u.fresh[len(u.fresh)-1].at = now
	}
}

// nextKey returns a fresh idempotency key. Caller holds mu.
func (u *user) nextKey(run string) string {
	u.seq++
	return run + "-" + strconv.FormatUint(u.id, 36) + "-" + strconv.FormatUint(u.seq, 36)
}

// makeUsers creates the users and signs their tokens once.
func makeUsers(o *Options, ttl time.Duration) ([]*user, error) {
	users := make([]*user, o.Users)
	for i := range users {
		id := o.UserBase + uint64(i)
		tok, err := auth.SignHS256Claims([]byte(o.JWTSecret), auth.Claims{User: id, TTL: ttl, Issuer: o.JWTIssuer, Audience: o.JWTAudience})
		if err != nil {
			return nil, fmt.Errorf("cannot sign a token for user %d: %w", id, err)
		}
		users[i] = &user{id: id, auth: []byte("Bearer " + tok)}
	}
	return users, nil
}
