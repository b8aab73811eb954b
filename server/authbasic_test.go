package server

import "testing"

// TestHtpasswdEntry pins the scan of nginx's handler, quirks included.
func TestHtpasswdEntry(t *testing.T) {
	file := []byte("# a:comment\r\n\r\nbob:h1\n\rcarol:skipped\nalice:h2:extra\r\ndave:h3\r\nmulti\nline:h4\nlast:h5")
	for user, want := range map[string]string{
		"bob": "h1", "alice": "h2", "dave": "h3", "multi\nline": "h4", "last": "h5",
		"carol": "", "# a": "", "ali": "", "multi": "",
	} {
		got, found := htpasswdEntry(file, user)
		if got != want || found != (want != "") {
			t.Errorf("htpasswdEntry(%q) = %q, %v; want %q", user, got, found, want)
		}
	}
}
