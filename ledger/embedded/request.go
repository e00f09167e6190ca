package embedded

import (
	"sync"

	"github.com/exchange/internal-transfer/ledger"
)

// request is one caller's batch on its way through the applier. The caller
// fills the events, the applier fills the results and err, then signals done.
type request struct {
	isTransfers     bool
	accounts        []ledger.Account
	transfers       []ledger.Transfer
	accountResults  []ledger.AccountEventResult
	transferResults []ledger.TransferEventResult
	err             error
	done            chan struct{} // buffered 1: the applier never blocks on it
}

func (r *request) events() int {
	if r.isTransfers {
		return len(r.transfers)
	}
	return len(r.accounts)
}

var requestPool = sync.Pool{New: func() any { return &request{done: make(chan struct{}, 1)} }}

func getRequest() *request { return requestPool.Get().(*request) }

// putRequest recycles r; only a caller that received r.done may call it.
func putRequest(r *request) {
	r.isTransfers = false
	r.accounts = r.accounts[:0]
	r.transfers = r.transfers[:0]
	r.accountResults = r.accountResults[:0]
	r.transferResults = r.transferResults[:0]
	r.err = nil
	requestPool.Put(r)
}
