package tigerbeetle

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// lookupNetIP resolves host names (tests replace it).
var lookupNetIP = net.DefaultResolver.LookupNetIP

// resolveAddresses returns addrs with host names replaced by IP addresses.
//
// The TigerBeetle client parses addresses itself and accepts only IP
// literals ("10.0.0.1:3001", "[::1]:3001", "10.0.0.1", "[::1]", or a bare
// port; an IPv6 address only in brackets, as it splits at the last colon), but
// deployments name replicas ("tb1.prod.internal:3001"). Each name must stand
// for one replica, so it becomes one address: its first IPv4 address, else
// its first address. Names are resolved here by New, and again each time an
// evicted client is replaced (Ledger.replace); a replica that moves to
// another IP is otherwise reached only after a restart.
func resolveAddresses(ctx context.Context, addrs []string) ([]string, error) {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		r, err := resolveAddress(ctx, strings.TrimSpace(a))
		if err != nil {
			return nil, fmt.Errorf("cannot resolve TigerBeetle address %q: %w", a, err)
		}
		out[i] = r
	}
	return out, nil
}

func resolveAddress(ctx context.Context, a string) (string, error) {
	if a == "" {
		return "", fmt.Errorf("empty address")
	}
	if _, err := strconv.ParseUint(a, 10, 16); err == nil {
		return a, nil // a bare port: the client means 127.0.0.1
	}
	if ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(a, "["), "]")); err == nil {
		return bare(ip), nil // an IP without port, IPv6 with or without brackets
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		host, port = a, "" // a host name without port: the client's default port
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return a, nil
	}
	ips, err := lookupNetIP(ctx, "ip", host)
	if err != nil {
		return "", err
	}
	if len(ips) == 0 {
		return "", fmt.Errorf("no IP address for %q", host)
	}
	ip := ips[0]
	for _, cand := range ips {
		if cand.Unmap().Is4() {
			ip = cand.Unmap()
			break
		}
	}
	if port == "" {
		return bare(ip), nil
	}
	return net.JoinHostPort(ip.String(), port), nil
}

// bare writes ip for an address without port: IPv6 in brackets, which the
// client needs to tell it from a port.
func bare(ip netip.Addr) string {
	if ip.Is6() && !ip.Is4In6() {
		return "[" + ip.String() + "]"
	}
	return ip.Unmap().String()
}
