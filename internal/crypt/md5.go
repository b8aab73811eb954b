package crypt

import (
	"crypto/md5"
	"strings"
)

// md5Crypt is Poul-Henning Kamp's MD5 crypt, with magic "$1$" (crypt(3))
// or "$apr1$" (Apache, ngx_crypt_apr1).
func md5Crypt(password, setting, magic string) string {
	salt := setting[len(magic):]
	if i := strings.IndexByte(salt, '$'); i >= 0 {
		salt = salt[:i]
	}
	if len(salt) > 8 {
		salt = salt[:8]
	}
	pw := []byte(password)
	alt := md5.Sum([]byte(password + salt + password))
	h := md5.New()
	h.Write([]byte(password + magic + salt))
	for n := len(pw); n > 0; n -= 16 {
		h.Write(alt[:min(n, 16)])
	}
	for n := len(pw); n > 0; n >>= 1 {
		if n&1 != 0 {
			h.Write([]byte{0})
		} else {
			h.Write(pw[:1])
		}
	}
	final := h.Sum(nil)
	for i := 0; i < 1000; i++ {
		final = round(h, i, pw, []byte(salt), final)
	}
	out := []byte(magic + salt + "$")
	f := func(a, b, c int) uint32 { return uint32(final[a])<<16 | uint32(final[b])<<8 | uint32(final[c]) }
	out = b64(out, f(0, 6, 12), 4)
	out = b64(out, f(1, 7, 13), 4)
	out = b64(out, f(2, 8, 14), 4)
	out = b64(out, f(3, 9, 15), 4)
	out = b64(out, f(4, 10, 5), 4)
	out = b64(out, uint32(final[11]), 2)
	return string(out)
}
