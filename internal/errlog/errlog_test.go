package errlog

import (
	"bytes"
	"fmt"
	"os"
	"testing"
	"time"
)

func TestLine(t *testing.T) {
	var b bytes.Buffer
	l := Logger{W: &b, Now: func() time.Time { return time.Date(2026, 11, 25, 9, 8, 7, 0, time.UTC) }}
	l.Log(Emerg, "unknown directive %q in %s:%d", "x", "/etc/edge/edge.conf", 3)
	pid := os.Getpid()
	want := fmt.Sprintf("2026/11/25 09:08:07 [emerg] %d#%d: unknown directive \"x\" in /etc/edge/edge.conf:3\n", pid, pid)
	if b.String() != want {
		t.Errorf("got %q\nwant %q", b.String(), want)
	}
}

// TestLongLine: nginx cuts a line at 2048 bytes with its newline.
func TestLongLine(t *testing.T) {
	var b bytes.Buffer
	l := Logger{W: &b, Level: Error}
	l.Log(Error, "%s", bytes.Repeat([]byte("x"), 3000))
	if b.Len() != 2048 || b.Bytes()[2047] != '\n' || b.Bytes()[2046] != 'x' {
		t.Errorf("a long line is %d bytes: %q", b.Len(), b.String())
	}
}
