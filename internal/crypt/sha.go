package crypt

import (
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"strconv"
	"strings"
)

// shaCrypt is Ulrich Drepper's SHA-crypt ($5$ SHA-256, $6$ SHA-512) of
// glibc and libxcrypt; ok is false for a malformed setting.
func shaCrypt(password, setting string) (string, bool) {
	magic := setting[:3]
	newHash, size := sha256.New, 32
	if magic == "$6$" {
		newHash, size = sha512.New, 64
	}
	rest := setting[3:]
	rounds, custom := 5000, false
	if strings.HasPrefix(rest, "rounds=") {
		end := strings.IndexByte(rest, '$')
		if end < 0 {
			return "", false
		}
		n, err := strconv.ParseUint(rest[len("rounds="):end], 10, 64)
		if err != nil {
			return "", false
		}
		rounds, custom, rest = int(min(max(n, 1000), 999999999)), true, rest[end+1:]
	}
	salt := rest
	if i := strings.IndexByte(salt, '$'); i >= 0 {
		salt = salt[:i]
	}
	if len(salt) > 16 {
		salt = salt[:16]
	}
	pw, sb := []byte(password), []byte(salt)
	sum := func(h hash.Hash) []byte { return h.Sum(nil) }

	hb := newHash()
	hb.Write(pw)
	hb.Write(sb)
	hb.Write(pw)
	b := sum(hb)

	ha := newHash()
	ha.Write(pw)
	ha.Write(sb)
	n := len(pw)
	for ; n > size; n -= size {
		ha.Write(b)
	}
	ha.Write(b[:n])
	for n := len(pw); n > 0; n >>= 1 {
		if n&1 != 0 {
			ha.Write(b)
		} else {
			ha.Write(pw)
		}
	}
	a := sum(ha)

	hp := newHash()
	for range len(pw) {
		hp.Write(pw)
	}
	p := repeat(sum(hp), len(pw))
	hs := newHash()
	for range 16 + int(a[0]) {
		hs.Write(sb)
	}
	s := repeat(sum(hs), len(sb))

	h := newHash()
	for i := 0; i < rounds; i++ {
		a = round(h, i, p, s, a)
	}

	out := []byte(magic)
	if custom {
		out = append(out, "rounds="+strconv.Itoa(rounds)+"$"...)
	}
	out = append(out, salt...)
	out = append(out, '$')
	f := func(x, y, z int) uint32 { return uint32(a[x])<<16 | uint32(a[y])<<8 | uint32(a[z]) }
	if size == 32 {
		for _, t := range [][3]int{{0, 10, 20}, {21, 1, 11}, {12, 22, 2}, {3, 13, 23}, {24, 4, 14},
			{15, 25, 5}, {6, 16, 26}, {27, 7, 17}, {18, 28, 8}, {9, 19, 29}} {
			out = b64(out, f(t[0], t[1], t[2]), 4)
		}
		out = b64(out, uint32(a[31])<<8|uint32(a[30]), 3)
	} else {
		for _, t := range [][3]int{{0, 21, 42}, {22, 43, 1}, {44, 2, 23}, {3, 24, 45}, {25, 46, 4},
			{47, 5, 26}, {6, 27, 48}, {28, 49, 7}, {50, 8, 29}, {9, 30, 51}, {31, 52, 10},
			{53, 11, 32}, {12, 33, 54}, {34, 55, 13}, {56, 14, 35}, {15, 36, 57}, {37, 58, 16},
			{59, 17, 38}, {18, 39, 60}, {40, 61, 19}, {62, 20, 41}} {
			out = b64(out, f(t[0], t[1], t[2]), 4)
		}
		out = b64(out, uint32(a[63]), 2)
	}
	return string(out), true
}

// repeat is src repeated to n bytes.
func repeat(src []byte, n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		out = append(out, src[:min(len(src), n-len(out))]...)
	}
	return out
}
