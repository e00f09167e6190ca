package embedded

import (
	"maps"

	"github.com/exchange/internal-transfer/ledger"
)

// model is the reference for FuzzLedgerModel: TigerBeetle's rules for the
// operations the fuzzer generates (accounts with or without limits;
// single-phase, pending, post, void and balancing transfers; linked chains;
// replays), written as plainly as possible over maps, with no timeouts.
type model struct {
	accounts  map[ledger.Uint128]ledger.Account
	transfers map[ledger.Uint128]ledger.Transfer
	orphans   map[ledger.Uint128]bool
	status    map[ledger.Uint128]byte // pending id → posted/voided
}

func newModel() *model {
	return &model{
		accounts:  map[ledger.Uint128]ledger.Account{},
		transfers: map[ledger.Uint128]ledger.Transfer{},
		orphans:   map[ledger.Uint128]bool{},
		status:    map[ledger.Uint128]byte{},
	}
}

func (m *model) clone() *model {
	return &model{maps.Clone(m.accounts), maps.Clone(m.transfers), maps.Clone(m.orphans), maps.Clone(m.status)}
}

// createAccounts applies a batch; only fields the fuzzer sets are checked.
func (m *model) createAccounts(batch []ledger.Account) []ledger.AccountEventResult {
	var out []ledger.AccountEventResult
	for i, a := range batch {
		res := ledger.AccountOK
		if e, ok := m.accounts[a.ID]; ok {
			res = ledger.AccountExists
			if e.Flags != a.Flags {
				res = ledger.AccountExistsWithDifferentFlags
			} else if e.Ledger != a.Ledger {
				res = ledger.AccountExistsWithDifferentLedger
			}
		} else if a.Flags&ledger.AccountDebitsMustNotExceedCredits != 0 && a.Flags&ledger.AccountCreditsMustNotExceedDebits != 0 {
			res = ledger.AccountFlagsAreMutuallyExclusive
		} else {
			m.accounts[a.ID] = a
		}
		if res != ledger.AccountOK {
			out = append(out, ledger.AccountEventResult{Index: uint32(i), Result: res})
		}
	}
	return out
}

// createTransfers applies a batch with linked chains: a failed chain
// restores the model as it was at the chain's start, and the last event of a
// batch cannot open a chain.
func (m *model) createTransfers(batch []ledger.Transfer) []ledger.TransferEventResult {
	results := make([]ledger.CreateTransferResult, len(batch))
	var saved *model
	start, broken := -1, false
	for i, t := range batch {
		linked := t.Flags&ledger.TransferLinked != 0
		if linked && start < 0 {
			start, saved = i, m.clone()
		}
		var res ledger.CreateTransferResult
		switch {
		case linked && i == len(batch)-1:
			res = ledger.TransferLinkedEventChainOpen
		case broken:
			res = ledger.TransferLinkedEventFailed
		default:
			res = m.createTransfer(t)
		}
		if res != ledger.TransferOK && start >= 0 && !broken {
			broken = true
			*m = *saved
			for j := start; j < i; j++ {
				results[j] = ledger.TransferLinkedEventFailed
			}
		}
		if res != ledger.TransferOK && transient(res) {
			m.orphans[t.ID] = true
		}
		results[i] = res
		if start >= 0 && (!linked || res == ledger.TransferLinkedEventChainOpen) {
			start, broken = -1, false
		}
	}
	var out []ledger.TransferEventResult
	for i, r := range results {
		if r != ledger.TransferOK {
			out = append(out, ledger.TransferEventResult{Index: uint32(i), Result: r})
		}
	}
	return out
}

func (m *model) createTransfer(t ledger.Transfer) ledger.CreateTransferResult {
	if m.orphans[t.ID] {
		return ledger.TransferIDAlreadyFailed
	}
	if e, ok := m.transfers[t.ID]; ok {
		return m.exists(t, e)
	}
	if t.Flags&(ledger.TransferPostPendingTransfer|ledger.TransferVoidPendingTransfer) != 0 {
		return m.resolve(t)
	}
	dr, okDr := m.accounts[t.DebitAccountID]
	cr, okCr := m.accounts[t.CreditAccountID]
	switch {
	case t.DebitAccountID == t.CreditAccountID:
		return ledger.TransferAccountsMustBeDifferent
	case !okDr:
		return ledger.TransferDebitAccountNotFound
	case !okCr:
		return ledger.TransferCreditAccountNotFound
	case dr.Ledger != cr.Ledger:
		return ledger.TransferAccountsMustHaveTheSameLedger
	case t.Ledger != dr.Ledger:
		return ledger.TransferTransferMustHaveTheSameLedgerAsAccounts
	}
	amount := t.Amount.Lo
	if t.Flags&ledger.TransferBalancingDebit != 0 {
		have := dr.CreditsPosted.Lo
		used := dr.DebitsPosted.Lo + dr.DebitsPending.Lo
		amount = min(amount, have-min(have, used))
	}
	if dr.Flags&ledger.AccountDebitsMustNotExceedCredits != 0 &&
		dr.DebitsPending.Lo+dr.DebitsPosted.Lo+amount > dr.CreditsPosted.Lo {
		return ledger.TransferExceedsCredits
	}
	if cr.Flags&ledger.AccountCreditsMustNotExceedDebits != 0 &&
		cr.CreditsPending.Lo+cr.CreditsPosted.Lo+amount > cr.DebitsPosted.Lo {
		return ledger.TransferExceedsDebits
	}
	if t.Flags&ledger.TransferPending != 0 {
		dr.DebitsPending.Lo += amount
		cr.CreditsPending.Lo += amount
	} else {
		dr.DebitsPosted.Lo += amount
		cr.CreditsPosted.Lo += amount
	}
	m.accounts[dr.ID], m.accounts[cr.ID] = dr, cr
	t.Amount = ledger.U128(amount)
	m.transfers[t.ID] = t
	return ledger.TransferOK
}

// resolve posts or voids a pending transfer (the fuzzer leaves the optional
// fields zero).
func (m *model) resolve(t ledger.Transfer) ledger.CreateTransferResult {
	p, ok := m.transfers[t.PendingID]
	switch {
	case t.PendingID == t.ID:
		return ledger.TransferPendingIDMustBeDifferent
	case !ok:
		return ledger.TransferPendingTransferNotFound
	case p.Flags&ledger.TransferPending == 0:
		return ledger.TransferPendingTransferNotPending
	}
	post := t.Flags&ledger.TransferPostPendingTransfer != 0
	amount := t.Amount
	if !post && amount.IsZero() || post && amount.IsMax() {
		amount = p.Amount
	}
	if amount.Cmp(p.Amount) > 0 {
		return ledger.TransferExceedsPendingTransferAmount
	}
	if !post && amount != p.Amount {
		return ledger.TransferPendingTransferHasDifferentAmount
	}
	switch m.status[p.ID] {
	case statusPosted:
		return ledger.TransferPendingTransferAlreadyPosted
	case statusVoided:
		return ledger.TransferPendingTransferAlreadyVoided
	}
	dr, cr := m.accounts[p.DebitAccountID], m.accounts[p.CreditAccountID]
	dr.DebitsPending.Lo -= p.Amount.Lo
	cr.CreditsPending.Lo -= p.Amount.Lo
	m.status[p.ID] = statusVoided
	if post {
		dr.DebitsPosted.Lo += amount.Lo
		cr.CreditsPosted.Lo += amount.Lo
		m.status[p.ID] = statusPosted
	}
	m.accounts[dr.ID], m.accounts[cr.ID] = dr, cr
	stored := p
	stored.ID, stored.PendingID, stored.Flags, stored.Amount, stored.Timeout = t.ID, p.ID, t.Flags, amount, 0
	m.transfers[t.ID] = stored
	return ledger.TransferOK
}

// exists compares a resubmitted transfer with the stored one.
func (m *model) exists(t, e ledger.Transfer) ledger.CreateTransferResult {
	switch {
	case t.Flags != e.Flags:
		return ledger.TransferExistsWithDifferentFlags
	case t.PendingID != e.PendingID:
		return ledger.TransferExistsWithDifferentPendingID
	}
	if t.Flags&(ledger.TransferPostPendingTransfer|ledger.TransferVoidPendingTransfer) != 0 {
		p := m.transfers[t.PendingID]
		want := t.Amount
		if t.Flags&ledger.TransferVoidPendingTransfer != 0 && want.IsZero() ||
			t.Flags&ledger.TransferPostPendingTransfer != 0 && want.IsMax() {
			want = p.Amount
		}
		if want != e.Amount {
			return ledger.TransferExistsWithDifferentAmount
		}
		return ledger.TransferExists
	}
	switch {
	case t.DebitAccountID != e.DebitAccountID:
		return ledger.TransferExistsWithDifferentDebitAccountID
	case t.CreditAccountID != e.CreditAccountID:
		return ledger.TransferExistsWithDifferentCreditAccountID
	case t.Flags&ledger.TransferBalancingDebit != 0 && t.Amount.Cmp(e.Amount) < 0,
		t.Flags&ledger.TransferBalancingDebit == 0 && t.Amount != e.Amount:
		return ledger.TransferExistsWithDifferentAmount
	case t.Ledger != e.Ledger:
		return ledger.TransferExistsWithDifferentLedger
	}
	return ledger.TransferExists
}
