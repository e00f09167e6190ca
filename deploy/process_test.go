package deploy

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestProcessStop(t *testing.T) {
	t.Run("stops when asked", func(t *testing.T) {
		p, err := StartProcess("sh", "-c", "echo started; exec sleep 30")
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "output", func() bool { return strings.Contains(p.Output(), "started") })
		start := time.Now()
		if err := p.Stop(5 * time.Second); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("Stop took %v for a process that ends on SIGTERM", took)
		}
		if !p.Exited() {
			t.Fatal("not exited after Stop")
		}
		if err := p.Stop(time.Second); err != nil {
			t.Fatalf("second Stop: %v, want the first answer (nil)", err)
		}
	})
	t.Run("killed after grace", func(t *testing.T) {
		// An ignored signal stays ignored across exec: sleep ignores SIGTERM.
		p, err := StartProcess("sh", "-c", `trap "" TERM; echo ready; exec sleep 30`)
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "output", func() bool { return strings.Contains(p.Output(), "ready") })
		start := time.Now()
		err = p.Stop(200 * time.Millisecond)
		if err == nil || !strings.Contains(err.Error(), "killed") {
			t.Fatalf("Stop = %v, want killed after the grace", err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("Stop took %v with a 200 ms grace", took)
		}
	})
	t.Run("exited on its own", func(t *testing.T) {
		p, err := StartProcess("sh", "-c", "echo bad config >&2; exit 3")
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "exit", p.Exited)
		if err := p.Stop(time.Second); !errors.Is(err, ErrProcessExited) {
			t.Fatalf("Stop = %v, want ErrProcessExited", err)
		}
		if !strings.Contains(p.Output(), "bad config") {
			t.Fatalf("output %q lacks stderr", p.Output())
		}
	})
	t.Run("missing tool", func(t *testing.T) {
		if _, err := StartProcess("/nonexistent/tool"); err == nil {
			t.Fatal("started a tool that does not exist")
		}
	})
}

func TestTailBufferKeepsTheEnd(t *testing.T) {
	b := &tailBuffer{max: 8}
	b.Write([]byte("0123"))
	b.Write([]byte("456789ab"))
	if got := b.String(); got != "456789ab" {
		t.Fatalf("tail = %q, want the last 8 bytes", got)
	}
}

func TestParseHAProxyStats(t *testing.T) {
	csv := "# pxname,svname,qcur,status,weight\n" +
		"fe_user,FRONTEND,,OPEN,\n" +
		"be_gateway,gw1,0,UP,1\n" +
		"be_gateway,gw2,0,DOWN,1\n" +
		"be_gateway,gw3,0,UP 1/2,1\n" +
		"be_gateway,BACKEND,0,UP,2\n"
	got, err := ParseHAProxyStats([]byte(csv))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"be_gateway/gw1": "UP", "be_gateway/gw2": "DOWN", "be_gateway/gw3": "UP 1/2"}
	if len(got) != len(want) {
		t.Fatalf("states = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for _, bad := range []string{"", "# a,b,c\nx,y,z\n", "# pxname,svname,status\n\"unterminated\n"} {
		if _, err := ParseHAProxyStats([]byte(bad)); err == nil {
			t.Errorf("parsed %q without error", bad)
		}
	}
}
