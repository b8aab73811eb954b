package crypt

import (
	"os/exec"
	"strings"
	"testing"

	"edge/integration/harness"
)

// TestVerify checks the schemes against hashes made by the real tools:
// openssl passwd and Apache's htpasswd, as users make them.
func TestVerify(t *testing.T) {
	openssl := harness.Require(t, "openssl", "openssl")
	htpasswd := harness.Require(t, "htpasswd", "apache2-utils")
	hash := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).Output()
		if err != nil {
			t.Fatalf("%s %v: %v", name, args, err)
		}
		h := strings.TrimSpace(string(out))
		if i := strings.IndexByte(h, ':'); name == htpasswd && i >= 0 {
			h = h[i+1:]
		}
		return h
	}
	for _, pw := range []string{"secret", "", "a much longer password than sixteen or thirty-two bytes, past one SHA-512 block of 64 bytes", "pässwörd"} {
		hashes := map[string]string{
			"apr1":        hash(openssl, "passwd", "-apr1", pw),
			"md5":         hash(openssl, "passwd", "-1", pw),
			"sha256":      hash(openssl, "passwd", "-5", pw),
			"sha512":      hash(openssl, "passwd", "-6", pw),
			"sha256-salt": hash(openssl, "passwd", "-5", "-salt", "0123456789abcdefXYZ", pw),
			"htpasswd-m":  hash(htpasswd, "-nbm", "u", pw),
			"htpasswd-s":  hash(htpasswd, "-nbs", "u", pw),
			"htpasswd-B":  hash(htpasswd, "-nbB", "-C", "4", "u", pw),
			"htpasswd-p":  "{PLAIN}" + pw,
		}
		if pw == "" {
			// openssl passwd -5 and -6 hash no empty password.
			delete(hashes, "sha256")
			delete(hashes, "sha512")
			delete(hashes, "sha256-salt")
		}
		for name, h := range hashes {
			if ok, err := Verify(pw, h); !ok || err != nil {
				t.Errorf("%s %q: Verify(%q) = %v, %v", name, pw, h, ok, err)
			}
			if ok, _ := Verify("x"+pw, h); ok {
				t.Errorf("%s %q: a wrong password matches %q", name, pw, h)
			}
		}
	}
	// SHA-crypt with short salts and explicit rounds (the specification's
	// examples, as openssl and Python's crypt compute them).
	for _, c := range []struct{ pw, hash string }{
		{"Hello world!", "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"},
		{"Hello world!", "$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA"},
		{"Hello world!", "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"},
	} {
		if ok, err := Verify(c.pw, c.hash); !ok || err != nil {
			t.Errorf("Verify(%q, %q) = %v, %v", c.pw, c.hash, ok, err)
		}
	}
	// What libcrypt knows and edge does not, and what nobody knows.
	for _, h := range []string{"abJnggxhB/yWI", "$y$j9T$abc$def"} {
		if _, err := Verify("x", h); err != ErrUnsupported {
			t.Errorf("Verify(%q): %v, want ErrUnsupported", h, err)
		}
	}
	for _, h := range []string{"", "garbage", "{SSHA}!!", "$2y$04$short"} {
		if ok, err := Verify("", h); ok || err != nil {
			t.Errorf("Verify(%q) = %v, %v, want a mismatch", h, ok, err)
		}
	}
}
