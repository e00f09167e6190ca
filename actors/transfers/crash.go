package transfers

import (
	"os"
	"syscall"
)

// CrashEnv names a step at which the process kills itself with SIGKILL, for
// the crash tests that prove a restart finishes whatever a crash left
// half-done: "after-requesting" (request recorded, no hold), "after-hold"
// (hold in the ledger, store still requesting), "after-pending" (pending
// recorded, confirmation not yet published). Unset in production.
const CrashEnv = "INTERNAL_TRANSFER_CRASH_AT"

var crashAt = os.Getenv(CrashEnv)

// crashPoint kills the process at step when CrashEnv names it.
func crashPoint(step string) {
	if crashAt == step {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way; never continue past the step
	}
}
