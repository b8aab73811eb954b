// Package crypt checks a password against a hash of an htpasswd file, with
// the schemes nginx's ngx_crypt takes itself ({PLAIN}, {SHA}, {SSHA},
// $apr1$) and those it leaves to Debian's crypt(3) that htpasswd and
// openssl write: $1$ (MD5), $5$ and $6$ (SHA-256, SHA-512) and $2a$, $2b$,
// $2y$ (bcrypt).
package crypt

import (
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"hash"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// ErrUnsupported is a hash of a scheme crypt(3) knows and edge does not
// (DES, yescrypt, scrypt, BSDi).
var ErrUnsupported = errors.New("password scheme not supported")

// Verify says whether password matches hash. A hash that is not one of a
// known scheme matches nothing, as libcrypt's failure token does.
func Verify(password, hash string) (bool, error) {
	switch {
	case strings.HasPrefix(hash, "$apr1$"):
		return equal(md5Crypt(password, hash, "$apr1$"), hash), nil
	case strings.HasPrefix(hash, "{PLAIN}"):
		return equal(password, hash[len("{PLAIN}"):]), nil
	case strings.HasPrefix(hash, "{SSHA}"):
		raw, err := base64.StdEncoding.DecodeString(hash[len("{SSHA}"):])
		if err != nil || len(raw) < sha1.Size {
			return false, nil
		}
		sum := sha1.Sum(append([]byte(password), raw[sha1.Size:]...))
		return subtle.ConstantTimeCompare(sum[:], raw[:sha1.Size]) == 1, nil
	case strings.HasPrefix(hash, "{SHA}"):
		sum := sha1.Sum([]byte(password))
		return equal(base64.StdEncoding.EncodeToString(sum[:]), hash[len("{SHA}"):]), nil
	case strings.HasPrefix(hash, "$1$"):
		return equal(md5Crypt(password, hash, "$1$"), hash), nil
	case strings.HasPrefix(hash, "$5$"), strings.HasPrefix(hash, "$6$"):
		out, ok := shaCrypt(password, hash)
		return ok && equal(out, hash), nil
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil, nil
	case strings.HasPrefix(hash, "$y$"), strings.HasPrefix(hash, "$gy$"), strings.HasPrefix(hash, "$7$"),
		strings.HasPrefix(hash, "_") && len(hash) == 20, len(hash) == 13 && strings.Trim(hash, itoa64) == "":
		return false, ErrUnsupported
	}
	return false, nil
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

const itoa64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// round is one of the rounds MD5-crypt and SHA-crypt share: the digest
// a mixed with the password bytes p and salt bytes s as i says.
func round(h hash.Hash, i int, p, s, a []byte) []byte {
	h.Reset()
	if i&1 != 0 {
		h.Write(p)
	} else {
		h.Write(a)
	}
	if i%3 != 0 {
		h.Write(s)
	}
	if i%7 != 0 {
		h.Write(p)
	}
	if i&1 != 0 {
		h.Write(a)
	} else {
		h.Write(p)
	}
	return h.Sum(a[:0])
}

// b64 appends the n low 6-bit groups of v, least significant first.
func b64(b []byte, v uint32, n int) []byte {
	for ; n > 0; n-- {
		b = append(b, itoa64[v&0x3f])
		v >>= 6
	}
	return b
}
