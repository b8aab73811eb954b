package reload

import (
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"edge/integration/harness"
)

// privilegedPort is a free loopback port below 1024.
func privilegedPort(t *testing.T, not int) int {
	for p := 900; p > 600; p-- {
		if p == not {
			continue
		}
		if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err == nil {
			ln.Close()
			return p
		}
	}
	t.Fatal("no free port below 1024")
	return 0
}

// status is a field of /proc/PID/status.
func status(t *testing.T, pid int, field string) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return ""
}

// user: started as root, edge binds, then runs as the user with only the
// capability to bind low ports; a reload opens another one, and the files
// it opens belong to the user, while the logs opened as root stay in use.
func TestUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the user directive needs edge started as root")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	group, err := user.LookupGroup("nogroup")
	if err != nil {
		t.Skip("no group nogroup")
	}
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		os.Chmod(d, 0o755)
	}
	os.MkdirAll(filepath.Join(dir, "logs"), 0o777)
	os.Chmod(filepath.Join(dir, "logs"), 0o777)
	os.MkdirAll(filepath.Join(dir, "html"), 0o755)
	os.WriteFile(filepath.Join(dir, "html", "a.txt"), []byte("a\n"), 0o644)
	p1 := privilegedPort(t, 0)
	p2 := privilegedPort(t, p1)
	conf := filepath.Join(dir, "edge.conf")
	text := func(extra string) string {
		return fmt.Sprintf("user nobody nogroup;\nwatch_config off;\npid logs/edge.pid;\nerror_log logs/error.log notice;\nevents {}\nhttp {\n    access_log logs/access.log;\n    server { listen 127.0.0.1:%d; root %s/html; }\n%s}\n", p1, dir, extra)
	}
	os.WriteFile(conf, []byte(text("")), 0o644)
	cmd := harness.Start(t, plainBin, fmt.Sprintf("127.0.0.1:%d", p1), "-p", dir+"/", "-c", conf)
	pid := cmd.Process.Pid
	// The switch ends with the capabilities set: wait for that.
	waitFor(t, "the switch to nobody, keeping cap_net_bind_service", func() bool {
		return strings.HasPrefix(status(t, pid, "Uid"), nobody.Uid+" ") && status(t, pid, "CapEff") == "0000000000000400"
	})
	if got, want := status(t, pid, "Uid"), strings.Repeat(nobody.Uid+" ", 3)+nobody.Uid; got != want {
		t.Errorf("Uid: %s, want %s", got, want)
	}
	if got := status(t, pid, "Gid"); !strings.HasPrefix(got, group.Gid+" "+group.Gid+" ") {
		t.Errorf("Gid: %s, want %s", got, group.Gid)
	}
	if got := status(t, pid, "CapEff"); got != "0000000000000400" {
		t.Errorf("CapEff %s: want only cap_net_bind_service", got)
	}
	in := &instance{t: t, dir: dir, port: p1, pid: pid}
	client := func(port int) (string, error) {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err != nil {
			return "", err
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /a.txt HTTP/1.0\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4096)
		n, _ := c.Read(buf)
		return string(buf[:n]), nil
	}
	if r, err := client(p1); err != nil || !strings.HasPrefix(r, "HTTP/1.1 200 OK") {
		t.Fatalf("as nobody: %q %v", r, err)
	}
	os.WriteFile(conf, []byte(text(fmt.Sprintf("    server { listen 127.0.0.1:%d; root %s/html; access_log logs/new.log; }\n", p2, dir))), 0o644)
	syscall.Kill(pid, syscall.SIGHUP)
	waitFor(t, "the new privileged port", func() bool { r, err := client(p2); return err == nil && strings.HasPrefix(r, "HTTP/1.1 200 OK") })
	fi, err := os.Stat(filepath.Join(dir, "logs", "new.log"))
	if err != nil {
		t.Fatal(err)
	}
	if uid := fmt.Sprint(fi.Sys().(*syscall.Stat_t).Uid); uid != nobody.Uid {
		t.Errorf("a log opened after the switch belongs to uid %s, want %s", uid, nobody.Uid)
	}
	if log := in.errorLog(); !strings.Contains(log, "reconfigured in") || strings.Contains(log, "[emerg]") {
		t.Errorf("the error log opened as root:\n%s", log)
	}
}
