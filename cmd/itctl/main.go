// Command itctl is the operator's and developer's tool for the internal
// transfer service. It talks to a running service over its user and admin
// APIs (addresses and credentials from the same config file the service
// uses), and applies the ScyllaDB schema.
//
//	itctl token    --user N [--ttl 24h]                 a dev JWT (HS256 configs only)
//	itctl deposit  --user N --account T --asset A --amount X [--key K]
//	itctl withdraw --user N --account T --asset A --amount X [--key K]
//	itctl freeze   --user N --account T --asset A
//	itctl unfreeze --user N --account T --asset A
//	itctl balances --user N
//	itctl transfer --user N --from T --to T --asset A --amount X [--to-user M] [--key K]
//	itctl status   REQUEST_ID [--user N]                as the owner, or the admin view
//	itctl history  --user N [--status S] [--limit L] [--cursor C]
//	itctl stuck                                         requests pending past the stuck threshold
//	itctl reconcile REQUEST_ID                          store vs ledger, with a recommendation
//	itctl post|void REQUEST_ID --operator NAME --reason TEXT [--force]
//	itctl resend   REQUEST_ID                           re-publish to settlement
//	itctl schema   [--dry-run]                          apply schema/*.cql to database.contact_points
//	itctl verify   --users-file F | --users A-B [--grace D]  invariants in the ledger and store (embedded: service stopped)
//	itctl config   [--env-file F]...                    would a service start with this config (install.sh runs it)
//
// Every command takes --config (default config/dev.yaml; IT_* overrides
// apply) and prints the service's JSON answer. It exits 1 when the service
// answered with an error, 2 on bad usage.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		usage()
	}
	if err := cmd(os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "itctl:", err)
		if _, usageErr := err.(usageError); usageErr {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

var commands = map[string]func(args []string) error{
	"token":     cmdToken,
	"deposit":   func(a []string) error { return cmdMove("deposit", a) },
	"withdraw":  func(a []string) error { return cmdMove("withdraw", a) },
	"freeze":    func(a []string) error { return cmdFreeze("freeze", a) },
	"unfreeze":  func(a []string) error { return cmdFreeze("unfreeze", a) },
	"balances":  cmdBalances,
	"transfer":  cmdTransfer,
	"status":    cmdStatus,
	"history":   cmdHistory,
	"stuck":     cmdStuck,
	"reconcile": cmdReconcile,
	"post":      func(a []string) error { return cmdResolve("post", a) },
	"void":      func(a []string) error { return cmdResolve("void", a) },
	"resend":    cmdResend,
	"schema":    cmdSchema,
	"verify":    cmdVerify,
	"config":    cmdConfig,
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage: itctl COMMAND [flags]
commands: token deposit withdraw freeze unfreeze balances transfer status history
          stuck reconcile post void resend schema verify config
run "itctl COMMAND -h" for a command's flags`)
	os.Exit(2)
}

// usageError is a mistake in the command line.
type usageError string

func (e usageError) Error() string { return string(e) }
