package transfers

import (
	"fmt"
	"strings"

	"github.com/exchange/internal-transfer/ledger"
	"github.com/exchange/internal-transfer/store"
)

// Asset is a configured asset: its ledger number and decimals.
type Asset struct {
	Name     string // e.g. "USDT"
	Ledger   uint32 // TigerBeetle ledger number, stable forever, > 0
	Decimals int    // digits after the point in amounts
}

// AccountType is a configured account type with its stable code.
type AccountType struct {
	Name string // e.g. "funding"
	Code uint16 // stable forever, > 0
}

// Route is an allowed transfer between account types. CrossUser routes may
// credit another user; the others only the sender's own account.
type Route struct {
	From, To  string
	CrossUser bool
}

// Catalog is the configured set of assets, account types and routes. It is
// read-only after start and safe to share.
type Catalog struct {
	assets       map[string]Asset
	accountTypes map[string]AccountType
	routes       map[[2]string]Route
}

// NewCatalog validates and indexes the configuration.
func NewCatalog(assets []Asset, types []AccountType, routes []Route) (*Catalog, error) {
	c := &Catalog{
		assets:       make(map[string]Asset, len(assets)),
		accountTypes: make(map[string]AccountType, len(types)),
		routes:       make(map[[2]string]Route, len(routes)),
	}
	ledgers := map[uint32]string{}
	folded := map[string]string{} // every name, lower case: "usdt" beside "USDT" is a mistake
	name := func(kind, n string) error {
		if !catalogName(n) {
			return fmt.Errorf("%s name %q: want 1 to 32 letters, digits, '_' or '-'", kind, n)
		}
		if other, dup := folded[kind+strings.ToLower(n)]; dup && other != n {
			return fmt.Errorf("%s names %q and %q differ only in case", kind, other, n)
		}
		folded[kind+strings.ToLower(n)] = n
		return nil
	}
	for _, a := range assets {
		if a.Name == "" || a.Ledger == 0 || a.Decimals < 0 || a.Decimals > 18 {
			return nil, fmt.Errorf("invalid asset %+v: needs a name, ledger > 0 and decimals 0..18", a)
		}
		if err := name("asset", a.Name); err != nil {
			return nil, err
		}
		if other, dup := ledgers[a.Ledger]; dup {
			return nil, fmt.Errorf("assets %s and %s share ledger %d", other, a.Name, a.Ledger)
		}
		if _, dup := c.assets[a.Name]; dup {
			return nil, fmt.Errorf("asset %s configured twice", a.Name)
		}
		ledgers[a.Ledger] = a.Name
		c.assets[a.Name] = a
	}
	codes := map[uint16]string{}
	for _, t := range types {
		if t.Name == "" || t.Code == 0 {
			return nil, fmt.Errorf("invalid account type %+v: needs a name and code > 0", t)
		}
		if err := name("account type", t.Name); err != nil {
			return nil, err
		}
		if other, dup := codes[t.Code]; dup {
			return nil, fmt.Errorf("account types %s and %s share code %d", other, t.Name, t.Code)
		}
		if _, dup := c.accountTypes[t.Name]; dup {
			return nil, fmt.Errorf("account type %s configured twice", t.Name)
		}
		codes[t.Code] = t.Name
		c.accountTypes[t.Name] = t
	}
	for _, r := range routes {
		if _, ok := c.accountTypes[r.From]; !ok {
			return nil, fmt.Errorf("route %s→%s: unknown account type %q", r.From, r.To, r.From)
		}
		if _, ok := c.accountTypes[r.To]; !ok {
			return nil, fmt.Errorf("route %s→%s: unknown account type %q", r.From, r.To, r.To)
		}
		if _, dup := c.routes[[2]string{r.From, r.To}]; dup {
			return nil, fmt.Errorf("route %s→%s configured twice (one entry per route; cross_user says whether it also serves other users)", r.From, r.To)
		}
		c.routes[[2]string{r.From, r.To}] = r
	}
	return c, nil
}

// catalogName reports whether n is a usable asset or account type name:
// it appears in URLs, JSON and metrics labels as it is.
func catalogName(n string) bool {
	if len(n) == 0 || len(n) > 32 {
		return false
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// Asset returns the asset named name.
func (c *Catalog) Asset(name string) (Asset, bool) { a, ok := c.assets[name]; return a, ok }

// AccountType returns the account type named name.
func (c *Catalog) AccountType(name string) (AccountType, bool) {
	t, ok := c.accountTypes[name]
	return t, ok
}

// Assets returns every configured asset.
func (c *Catalog) Assets() []Asset {
	out := make([]Asset, 0, len(c.assets))
	for _, a := range c.assets {
		out = append(out, a)
	}
	return out
}

// AccountTypes returns every configured account type.
func (c *Catalog) AccountTypes() []AccountType {
	out := make([]AccountType, 0, len(c.accountTypes))
	for _, t := range c.accountTypes {
		out = append(out, t)
	}
	return out
}

// RouteAllowed reports whether from→to is allowed, for the same user
// (crossUser false) or towards another user (crossUser true).
func (c *Catalog) RouteAllowed(from, to string, crossUser bool) bool {
	r, ok := c.routes[[2]string{from, to}]
	if !ok {
		return false
	}
	return !crossUser || r.CrossUser
}

// AccountID is the ledger account of user's accountType for asset.
func (c *Catalog) AccountID(user uint64, accountType, asset string) (ledger.Uint128, error) {
	t, ok := c.accountTypes[accountType]
	if !ok {
		return ledger.Uint128{}, fmt.Errorf("unknown account type %q", accountType)
	}
	a, ok := c.assets[asset]
	if !ok {
		return ledger.Uint128{}, fmt.Errorf("unknown asset %q", asset)
	}
	return ledger.UserAccountID(user, t.Code, a.Ledger), nil
}

// PendingID is the ledger id of req's pending (hold) transfer: derived from
// the client key when there is one, so racing nodes cannot move money twice.
func PendingID(req store.Request) ledger.Uint128 {
	if req.IdempotencyKey != "" {
		return ledger.PendingIDForKey(req.UserID, req.IdempotencyKey)
	}
	return ledger.PendingIDForRequest(req.ID)
}

// HoldTransfer is the pending ledger transfer that reserves req's funds.
// Building it again from the stored request gives the identical event, so
// the scanner can re-submit it to learn its fate.
func (c *Catalog) HoldTransfer(req store.Request) (ledger.Transfer, error) {
	debit, err := c.AccountID(req.UserID, req.FromAccountType, req.Asset)
	if err != nil {
		return ledger.Transfer{}, err
	}
	credit, err := c.AccountID(req.ToUserID, req.ToAccountType, req.Asset)
	if err != nil {
		return ledger.Transfer{}, err
	}
	a := c.assets[req.Asset]
	return ledger.Transfer{
		ID:              ledger.Uint128FromBytes(req.PendingID),
		DebitAccountID:  debit,
		CreditAccountID: credit,
		Amount:          ledger.U128(req.Amount),
		UserData64:      req.ID,
		Ledger:          a.Ledger,
		Code:            ledger.CodeInternalTransfer,
		Flags:           ledger.TransferPending,
	}, nil
}

// PostTransfer posts req's hold in full.
func PostTransfer(req store.Request, assetLedger uint32) ledger.Transfer {
	pending := ledger.Uint128FromBytes(req.PendingID)
	return ledger.Transfer{
		ID:         ledger.PostID(pending),
		PendingID:  pending,
		Amount:     ledger.AmountMax,
		UserData64: req.ID,
		Ledger:     assetLedger,
		Code:       ledger.CodeInternalTransfer,
		Flags:      ledger.TransferPostPendingTransfer,
	}
}

// VoidTransfer voids req's hold, releasing the funds.
func VoidTransfer(req store.Request, assetLedger uint32) ledger.Transfer {
	pending := ledger.Uint128FromBytes(req.PendingID)
	return ledger.Transfer{
		ID:         ledger.VoidID(pending),
		PendingID:  pending,
		UserData64: req.ID,
		Ledger:     assetLedger,
		Code:       ledger.CodeInternalTransfer,
		Flags:      ledger.TransferVoidPendingTransfer,
	}
}
