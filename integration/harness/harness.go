// Package harness starts the real edge binary and the real peers the
// integration tests compare it with or talk to. A peer that is missing
// fails the test under CI=true and skips it elsewhere, with a message
// saying how to install it.
package harness

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Root is the repository's top directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// BuildEdge builds cmd/edge into dir and returns the binary's path, with
// the race detector when race is set.
func BuildEdge(dir string, race bool) (string, error) {
	name := "edge"
	if race {
		name = "edge-race"
	}
	bin := filepath.Join(dir, name)
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "./cmd/edge")...)
	cmd.Dir = Root()
	if !race {
		// The release build: static, and able to keep capabilities on
		// every thread when it switches user (cmd/edge/user.go). The
		// race detector needs cgo.
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	}
	cmd.Stderr = os.Stderr
	return bin, cmd.Run()
}

// Require returns the path of a peer program, or fails (CI=true) or skips
// the test when it is not installed.
func Require(t testing.TB, name, pkg string) string {
	t.Helper()
	for _, p := range []string{name, "/usr/sbin/" + name, "/usr/bin/" + name} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	msg := name + " is not installed (apt-get install " + pkg + "; ./scripts/test.sh does it)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Result is what a program printed and how it exited.
type Result struct {
	Code           int
	Stdout, Stderr string
}

// Run runs a program with a deadline.
func Run(t testing.TB, timeout time.Duration, name string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = time.Second // a child left holding the pipes does not hold the test
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %v: no answer within %v", name, args, timeout)
	}
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("%s: %v", name, err)
		}
		code = ee.ExitCode()
	}
	return Result{Code: code, Stdout: out.String(), Stderr: errOut.String()}
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Start runs a server (edge, or nginx to compare) with args until the test
// ends, and waits until addr accepts connections. Its stderr is added to
// the test's output when the test fails.
func Start(t testing.TB, bin, addr string, args ...string) *exec.Cmd {
	t.Helper()
	return startOn(t, bin, "tcp", addr, args...)
}

// StartUnix is Start for a server listening on the unix socket path.
func StartUnix(t testing.TB, bin, path string, args ...string) *exec.Cmd {
	t.Helper()
	return startOn(t, bin, "unix", path, args...)
}

func startOn(t testing.TB, bin, network, addr string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if strings.Contains(stderr.String(), "WARNING: DATA RACE") {
			t.Errorf("%s (built with -race) found a data race:\n%s", filepath.Base(bin), stderr.String())
		} else if t.Failed() {
			t.Logf("%s's stderr:\n%s", filepath.Base(bin), stderr.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			t.Fatalf("%s exited: %s", filepath.Base(bin), stderr.String())
		default:
		}
		if c, err := net.Dial(network, addr); err == nil {
			c.Close()
			return cmd
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s does not accept on %s", filepath.Base(bin), addr)
	return nil
}

// RunWithEdge is a TestMain body: it builds edge into a temporary
// directory, sets *bin to it, runs the tests and cleans up. Under -race
// *bin has the race detector too; plain, when not nil, is set to a build
// without it, for the tests that run edge thousands of times on one
// goroutine's work (config checks), where the detector finds nothing and
// triples the time.
func RunWithEdge(m *testing.M, bin, plain *string) int {
	dir, err := os.MkdirTemp("", "edge-test")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	if *bin, err = BuildEdge(dir, raceBuild); err != nil {
		panic(err)
	}
	switch {
	case plain == nil:
	case raceBuild:
		if *plain, err = BuildEdge(dir, false); err != nil {
			panic(err)
		}
	default:
		*plain = *bin
	}
	return m.Run()
}
