package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/exchange/internal-transfer/config"
	"github.com/exchange/internal-transfer/ingress/auth"
)

// client reaches the service named by the config.
type client struct {
	cfg  *config.Config
	http *http.Client
}

// parse parses a command's flags after adding --config, and loads the config.
// An argument that is not a flag is refused: the flag package stops at the
// first one, so every flag after it would be dropped unseen (a deposit's
// --asset or --key, a transfer's --to-user).
func parse(fs *flag.FlagSet, args []string) (*client, error) {
	return parseArgs(fs, args, 0)
}

// parseArgs is parse allowing up to positional arguments before any flag
// is ignored: the caller reads them from fs.Args().
func parseArgs(fs *flag.FlagSet, args []string, positional int) (*client, error) {
	path := fs.String("config", "config/dev.yaml", "configuration file of the service")
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(args); err != nil {
		return nil, usageError(err.Error())
	}
	if fs.NArg() > positional {
		return nil, usageError(fmt.Sprintf("unexpected argument %q: flags after it would be ignored (each command takes only its flags, and REQUEST_ID where it has one)", fs.Arg(positional)))
	}
	cfg, err := config.Load(*path, os.Environ())
	if err != nil {
		return nil, err
	}
	return &client{cfg: cfg, http: &http.Client{Timeout: 30 * time.Second}}, nil
}

func base(host string, port int) string {
	if host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(port))
}

func (c *client) userURL(path string) string {
	return base(c.cfg.Server.BindAddress, c.cfg.Monitoring.HealthCheckPort) + path
}

// adminURL is on the admin API's own host when it has one.
func (c *client) adminURL(path string) string {
	return base(c.cfg.AdminHost(), c.cfg.Server.AdminPort) + path
}

// token signs a dev token for user with the config's HS256 secret.
func (c *client) token(user uint64, ttl time.Duration) (string, error) {
	if c.cfg.Auth.JWTAlgorithm != "HS256" {
		return "", fmt.Errorf("cannot sign a token: auth.jwt_algorithm is %s; tokens come from the identity provider", c.cfg.Auth.JWTAlgorithm)
	}
	return auth.SignHS256Claims([]byte(c.cfg.Auth.JWTSecret), auth.Claims{
		User: user, TTL: ttl, Issuer: c.cfg.Auth.JWTIssuer, Audience: c.cfg.Auth.JWTAudience,
	})
}

// do sends a request and prints the JSON answer indented; a non-2xx answer
// is an error after printing.
func (c *client) do(method, url, bearer string, body any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return &noAnswerError{err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		// An answer cut short says nothing of the outcome either.
		return &noAnswerError{err: fmt.Errorf("cannot read the answer: %w", err)}
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, raw, "", "  ") == nil {
		raw = pretty.Bytes()
	}
	fmt.Println(string(raw))
	if resp.StatusCode/100 != 2 {
		return &statusError{method: method, url: url, status: resp.StatusCode, text: resp.Status}
	}
	return nil
}

// noAnswerError: the request got no answer (refused, reset, timed out); it
// may still have been carried out.
type noAnswerError struct{ err error }

func (e *noAnswerError) Error() string {
	return "cannot reach the service, or no answer in time (is it running? `make run`): " + e.err.Error()
}

func (e *noAnswerError) Unwrap() error { return e.err }

// statusError is an answer outside 2xx.
type statusError struct {
	method, url, text string
	status            int
}

func (e *statusError) Error() string { return e.method + " " + e.url + ": " + e.text }

// moneyKey is the idempotency key of a command that moves money: the one
// given, or a new one, printed to stderr before the request goes out (an
// operator who interrupts a hanging command still has it), so that a
// command without a clear outcome can be repeated under the same key and
// move nothing twice.
func moneyKey(given string) string {
	if given != "" {
		return given
	}
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("BUG: crypto/rand failed: " + err.Error())
	}
	key := "itctl-" + hex.EncodeToString(b[:])
	fmt.Fprintf(os.Stderr, "idempotency key %s (to repeat this command safely: --key %s)\n", key, key)
	return key
}

// withKeyHint adds to err, when it leaves the outcome unknown (no answer,
// or a 5xx such as 503 UNAVAILABLE), how to learn it without moving money
// twice.
func withKeyHint(err error, key string) error {
	var se *statusError
	var na *noAnswerError
	if errors.As(err, &na) || (errors.As(err, &se) && se.status >= 500) {
		return fmt.Errorf("%w\nthe outcome is not known: run the same command again with --key %s to learn it (with the same key it moves nothing twice; without it, it could)", err, key)
	}
	return err
}

func (c *client) admin(method, path string, body any) error {
	return c.do(method, c.adminURL(path), c.cfg.Auth.AdminToken, body)
}

func (c *client) asUser(user uint64, method, path string, body any) error {
	tok, err := c.token(user, time.Hour)
	if err != nil {
		return err
	}
	return c.do(method, c.userURL(path), tok, body)
}

func requireUser(user uint64) error {
	if user == 0 {
		return usageError("--user is required (a positive user id)")
	}
	return nil
}

func oneArg(fs *flag.FlagSet, what string) (string, error) {
	if fs.NArg() != 1 {
		return "", usageError(fmt.Sprintf("want exactly one %s argument", what))
	}
	return fs.Arg(0), nil
}

// requestID reads the REQUEST_ID argument, before or after the flags.
func requestID(fs *flag.FlagSet, args []string) (*client, string, error) {
	var id string
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		id, args = args[0], args[1:]
	}
	positional := 1 // REQUEST_ID after the flags
	if id != "" {
		positional = 0
	}
	c, err := parseArgs(fs, args, positional)
	if err != nil {
		return nil, "", err
	}
	if id == "" {
		if id, err = oneArg(fs, "REQUEST_ID"); err != nil {
			return nil, "", err
		}
	}
	if _, err := strconv.ParseUint(id, 10, 64); err != nil {
		return nil, "", usageError("REQUEST_ID must be a decimal number, got " + strconv.Quote(id))
	}
	return c, id, nil
}

func cmdToken(args []string) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	user := fs.Uint64("user", 0, "user id (the token's subject)")
	ttl := fs.Duration("ttl", 24*time.Hour, "lifetime")
	c, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := requireUser(*user); err != nil {
		return err
	}
	tok, err := c.token(*user, *ttl)
	if err != nil {
		return err
	}
	fmt.Println(tok)
	return nil
}

func cmdMove(kind string, args []string) error {
	fs := flag.NewFlagSet(kind, flag.ContinueOnError)
	user := fs.Uint64("user", 0, "user id")
	account := fs.String("account", "funding", "account type")
	asset := fs.String("asset", "USDT", "asset")
	amount := fs.String("amount", "", "decimal amount, e.g. 100 or 0.5")
	key := fs.String("key", "", "idempotency key (a retry with the same key moves nothing twice); without it, a new one, shown in the answer")
	c, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := requireUser(*user); err != nil {
		return err
	}
	k := moneyKey(*key)
	body := map[string]any{"user_id": *user, "account_type": *account, "asset": *asset, "amount": *amount, "idempotency_key": k}
	return withKeyHint(c.admin("POST", "/admin/v1/"+kind, body), k)
}

func cmdFreeze(kind string, args []string) error {
	fs := flag.NewFlagSet(kind, flag.ContinueOnError)
	user := fs.Uint64("user", 0, "user id")
	account := fs.String("account", "funding", "account type")
	asset := fs.String("asset", "USDT", "asset")
	c, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := requireUser(*user); err != nil {
		return err
	}
	return c.admin("POST", "/admin/v1/"+kind, map[string]any{"user_id": *user, "account_type": *account, "asset": *asset})
}

func cmdBalances(args []string) error {
	fs := flag.NewFlagSet("balances", flag.ContinueOnError)
	user := fs.Uint64("user", 0, "user id")
	c, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := requireUser(*user); err != nil {
		return err
	}
	return c.admin("GET", "/admin/v1/balances?user_id="+strconv.FormatUint(*user, 10), nil)
}

func cmdTransfer(args []string) error {
	fs := flag.NewFlagSet("transfer", flag.ContinueOnError)
	user := fs.Uint64("user", 0, "the debited user (the token's subject)")
	from := fs.String("from", "funding", "debited account type")
	to := fs.String("to", "spot", "credited account type")
	asset := fs.String("asset", "USDT", "asset")
	amount := fs.String("amount", "", "decimal amount")
	toUser := fs.Uint64("to-user", 0, "credited user (default: the same user)")
	key := fs.String("key", "", "client_transfer_id (idempotency key); without it, a new one, shown in the answer")
	c, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := requireUser(*user); err != nil {
		return err
	}
	toAccount := map[string]any{"account_type": *to, "asset": *asset}
	if *toUser != 0 {
		toAccount["user_id"] = *toUser
	}
	body := map[string]any{
		"from_account": map[string]any{"account_type": *from, "asset": *asset},
		"to_account":   toAccount,
		"amount":       *amount,
	}
	k := moneyKey(*key)
	body["client_transfer_id"] = k
	return withKeyHint(c.asUser(*user, "POST", "/api/v1/user/internal_transfer", body), k)
}

func cmdStatus(args []string) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	user := fs.Uint64("user", 0, "ask as this user (the owner); without it, the admin view")
	c, id, err := requestID(fs, args)
	if err != nil {
		return err
	}
	if *user != 0 {
		return c.asUser(*user, "GET", "/api/v1/user/internal_transfer/"+id, nil)
	}
	return c.admin("GET", "/admin/v1/transfers/"+id, nil)
}

func cmdHistory(args []string) error {
	fs := flag.NewFlagSet("history", flag.ContinueOnError)
	user := fs.Uint64("user", 0, "user id")
	status := fs.String("status", "", "requesting|pending|success|failed")
	limit := fs.Int("limit", 20, "page size, 1..100")
	cursor := fs.String("cursor", "", "next_cursor of the previous page")
	c, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := requireUser(*user); err != nil {
		return err
	}
	q := url.Values{"limit": {strconv.Itoa(*limit)}}
	if *status != "" {
		q.Set("status", *status)
	}
	if *cursor != "" {
		q.Set("cursor", *cursor)
	}
	return c.asUser(*user, "GET", "/api/v1/user/internal_transfer/history?"+q.Encode(), nil)
}

func cmdStuck(args []string) error {
	c, err := parse(flag.NewFlagSet("stuck", flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	return c.admin("GET", "/admin/v1/stuck", nil)
}

func cmdReconcile(args []string) error {
	c, id, err := requestID(flag.NewFlagSet("reconcile", flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	return c.admin("GET", "/admin/v1/reconcile/"+id, nil)
}

func cmdResolve(kind string, args []string) error {
	fs := flag.NewFlagSet(kind, flag.ContinueOnError)
	operator := fs.String("operator", "", "who decides (recorded)")
	reason := fs.String("reason", "", "why (recorded)")
	force := fs.Bool("force", false, "act on a request younger than settlement.stuck_threshold_ms (settlement would finish it on its own)")
	c, id, err := requestID(fs, args)
	if err != nil {
		return err
	}
	if strings.TrimSpace(*operator) == "" || strings.TrimSpace(*reason) == "" {
		return usageError("--operator and --reason are required: manual actions are audited")
	}
	body := map[string]any{"operator": *operator, "reason": *reason}
	if *force {
		body["force"] = true
	}
	return c.admin("POST", "/admin/v1/transfers/"+id+"/"+kind, body)
}

func cmdResend(args []string) error {
	c, id, err := requestID(flag.NewFlagSet("resend", flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	return c.admin("POST", "/admin/v1/transfers/"+id+"/resend", nil)
}
