package deploy

import (
	_ "embed"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"text/template"
	"time"
)

//go:embed haproxy/haproxy-local.cfg.tmpl
var localHAProxyTemplate string

var localHAProxy = template.Must(template.New("haproxy-local.cfg").
	Funcs(template.FuncMap{"inc": func(i int) int { return i + 1 }}).
	Option("missingkey=error").
	Parse(localHAProxyTemplate))

// Errors of the Render* helpers; the error's text says which field.
var (
	ErrInvalidHAProxy    = errors.New("invalid local HAProxy settings")
	ErrInvalidPrometheus = errors.New("invalid local Prometheus settings")
)

// LocalHAProxy is a loopback HAProxy in front of gateway nodes running on
// this machine: the same routing (consistent hash of the bearer token's
// subject claim) and health check (GET /health) as
// deploy/haproxy/haproxy.cfg.
// Addresses are host:port.
type LocalHAProxy struct {
	UserListen    string        // where HAProxy accepts the user API, e.g. "127.0.0.1:18080"
	Gateways      []string      // each gateway's user API + /health address
	AdminListen   string        // optional: where HAProxy accepts the admin API
	AdminGateways []string      // each gateway's admin address; required with AdminListen
	StatsListen   string        // optional: HAProxy's /stats and /metrics
	CheckInterval time.Duration // health check period; 0 means 500 * time.Millisecond
	LogLevel      string        // syslog level of HAProxy's log on stdout; "" means "notice"
}

const (
	localCheckIntervalDefault = 500 * time.Millisecond
	localGatewaysMax          = 64
)

// RenderLocalHAProxy returns the HAProxy configuration for l, ready for
// `haproxy -db -f FILE` (foreground, logs on stdout).
func RenderLocalHAProxy(l LocalHAProxy) (string, error) {
	if err := l.validate(); err != nil {
		return "", err
	}
	interval := l.CheckInterval
	if interval == 0 {
		interval = localCheckIntervalDefault
	}
	level := l.LogLevel
	if level == "" {
		level = "notice"
	}
	data := struct {
		LocalHAProxy
		CheckIntervalMS int64
		LogLevel        string
	}{l, interval.Milliseconds(), level}
	var b strings.Builder
	if err := localHAProxy.Execute(&b, data); err != nil {
		panic(fmt.Sprintf("BUG: cannot render haproxy-local.cfg.tmpl: %v", err))
	}
	return b.String(), nil
}

func (l LocalHAProxy) validate() error {
	if err := validAddr(ErrInvalidHAProxy, "UserListen", l.UserListen); err != nil {
		return err
	}
	if len(l.Gateways) == 0 || len(l.Gateways) > localGatewaysMax {
		return fmt.Errorf("%w: Gateways needs 1..%d addresses, got %d", ErrInvalidHAProxy, localGatewaysMax, len(l.Gateways))
	}
	for _, g := range l.Gateways {
		if err := validAddr(ErrInvalidHAProxy, "Gateways", g); err != nil {
			return err
		}
	}
	if l.AdminListen != "" {
		if err := validAddr(ErrInvalidHAProxy, "AdminListen", l.AdminListen); err != nil {
			return err
		}
		if len(l.AdminGateways) == 0 || len(l.AdminGateways) > localGatewaysMax {
			return fmt.Errorf("%w: AdminGateways needs 1..%d addresses with AdminListen", ErrInvalidHAProxy, localGatewaysMax)
		}
		for _, g := range l.AdminGateways {
			if err := validAddr(ErrInvalidHAProxy, "AdminGateways", g); err != nil {
				return err
			}
		}
	} else if len(l.AdminGateways) > 0 {
		return fmt.Errorf("%w: AdminGateways given without AdminListen", ErrInvalidHAProxy)
	}
	if l.StatsListen != "" {
		if err := validAddr(ErrInvalidHAProxy, "StatsListen", l.StatsListen); err != nil {
			return err
		}
	}
	if l.CheckInterval < 0 || (l.CheckInterval > 0 && l.CheckInterval < time.Millisecond) {
		return fmt.Errorf("%w: CheckInterval %v must be 0 or at least 1 ms", ErrInvalidHAProxy, l.CheckInterval)
	}
	switch l.LogLevel {
	case "", "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug":
	default:
		return fmt.Errorf("%w: LogLevel %q is not a syslog level", ErrInvalidHAProxy, l.LogLevel)
	}
	return nil
}

// validAddr accepts host:port with a numeric port and nothing that could
// break out of its line in the configuration.
func validAddr(sentinel error, field, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || strings.ContainsAny(addr, " \t\r\n#\"") {
		return fmt.Errorf("%w: %s %q is not host:port", sentinel, field, addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%w: %s %q has no port 1..65535", sentinel, field, addr)
	}
	return nil
}
