package main

import (
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var burnSink atomic.Uint64

// burnForProfile keeps a CPU busy until stop closes, so the profile has a
// function of ours to name.
func burnForProfile(stop <-chan struct{}) {
	x := uint64(1)
	for {
		select {
		case <-stop:
			burnSink.Add(x)
			return
		default:
		}
		for range 100_000 {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
}

// TestProfileNamesTheHotFunctions: profile fetches a real CPU profile from
// the service's /debug/pprof/profile (here the test's own, served the same
// way) and writes the function that burned the CPU, by name, with its share.
func TestProfileNamesTheHotFunctions(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	stop := make(chan struct{})
	go burnForProfile(stop)
	defer close(stop)

	defer func(w time.Duration) { profileWarmup = w }(profileWarmup)
	profileWarmup = 0
	work := t.TempDir()
	svc := &service{ports: ports{metrics: ln.Addr().(*net.TCPAddr).Port}}
	profile(options{workDir: work, profile: 2 * time.Second}, svc)

	txt, err := os.ReadFile(filepath.Join(work, "profile.txt"))
	if err != nil {
		t.Fatalf("no profile.txt: %v", err)
	}
	if _, err := os.Stat(filepath.Join(work, "cpu.pprof")); err != nil {
		t.Fatalf("no cpu.pprof: %v", err)
	}
	for _, want := range []string{"Duration: 2", "flat%", "burnForProfile"} {
		if !strings.Contains(string(txt), want) {
			t.Fatalf("profile.txt lacks %q:\n%s", want, txt)
		}
	}
}
