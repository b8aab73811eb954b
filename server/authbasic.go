package server

import (
	"encoding/base64"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"strings"

	"edge/internal/conf"
	"edge/internal/crypt"
	"edge/internal/errlog"
	"edge/parser"
)

// AuthBasicCommands are the directives of ngx_http_auth_basic_module.
var AuthBasicCommands = []conf.Command{
	{Name: "auth_basic", Once: true, Type: httpAny | conf.HTTPLmt | conf.Take1, Module: "ngx_http_auth_basic_module", Set: setAuthBasic},
	{Name: "auth_basic_user_file", Once: true, Type: httpAny | conf.HTTPLmt | conf.Take1, Module: "ngx_http_auth_basic_module", Set: setAuthBasic},
}

// AuthBasic is a level's auth_basic and auth_basic_user_file (each
// inherited where not written).
type AuthBasic struct {
	Realm, UserFile *template
	// confPrefix resolves a relative user file computed per request.
	confPrefix string
}

func setAuthBasic(s *conf.Scope, d *parser.Directive) error {
	l := lv(s)
	v := d.Args[0].Value
	a := &l.loc.AuthBasic
	if d.Name == "auth_basic_user_file" && !strings.Contains(v, "$") {
		v = fullName(l.main.ConfPrefix, v)
		l.main.Watched = append(l.main.Watched, v)
	}
	t, err := l.http.compileTemplate(v, d.End)
	if err != nil {
		return err
	}
	if d.Name == "auth_basic" {
		a.Realm = t
	} else {
		a.UserFile, a.confPrefix = t, l.main.ConfPrefix
	}
	return nil
}

func (a *AuthBasic) merge(parent *AuthBasic) {
	if a.Realm == nil {
		a.Realm = parent.Realm
	}
	if a.UserFile == nil {
		a.UserFile, a.confPrefix = parent.UserFile, parent.confPrefix
	}
}

// authBasic is ngx_http_auth_basic_handler: 0 when it does not apply,
// 200 for a user it knows, else the status to finish with (401 carries
// the realm).
func (rq *request) authBasic(w *response) int {
	a := &rq.loc.AuthBasic
	if a.Realm == nil || a.UserFile == nil {
		return 0
	}
	realm := a.Realm.String(rq)
	if realm == "off" {
		return 0
	}
	user, password, ok := rq.basicCredentials()
	if !ok {
		rq.log(errlog.Info, "no user/password was provided for basic authentication")
		return challenge(w, realm)
	}
	file := a.UserFile.String(rq)
	if !a.UserFile.static() {
		file = fullName(a.confPrefix, file)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			rq.log(errlog.Error, `open() "%s" failed%s`, file, parser.Errno(err))
			return http.StatusForbidden
		}
		rq.log(errlog.Crit, `open() "%s" failed%s`, file, parser.Errno(err))
		return http.StatusInternalServerError
	}
	hash, found := htpasswdEntry(data, user)
	if !found {
		rq.log(errlog.Error, `user "%s" was not found in "%s"`, user, file)
		return challenge(w, realm)
	}
	match, err := crypt.Verify(password, hash)
	if err != nil {
		rq.log(errlog.Crit, `crypt() failed: the password scheme of user "%s" is not one edge supports`, user)
		return http.StatusInternalServerError
	}
	if !match {
		rq.log(errlog.Error, `user "%s": password mismatch`, user)
		return challenge(w, realm)
	}
	return http.StatusOK
}

func challenge(w *response, realm string) int {
	w.Header().Set("WWW-Authenticate", `Basic realm="`+realm+`"`)
	return http.StatusUnauthorized
}

// basicCredentials are the user and password of a Basic Authorization
// header, read as ngx_http_auth_basic_user does: an empty user or no
// colon is no credentials, and the password ends at a NUL (C strings).
func (rq *request) basicCredentials() (user, password string, ok bool) {
	v := rq.in.header("Authorization")
	if len(v) < 6 || !strings.EqualFold(v[:6], "Basic ") {
		return "", "", false
	}
	v = strings.TrimLeft(v[6:], " ")
	raw, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(v, "="))
	if v == "" || err != nil {
		return "", "", false
	}
	user, password, ok = strings.Cut(string(raw), ":")
	if !ok || user == "" {
		return "", "", false
	}
	if i := strings.IndexByte(password, 0); i >= 0 {
		password = password[:i]
	}
	return user, password, true
}

// htpasswdEntry finds the user's hash the way nginx's handler scans the
// file: lines of user:hash[:anything], "#" and CR starting a line that is
// skipped, the user's bytes matched as they come (even across a newline
// the user's name contains).
func htpasswdEntry(data []byte, user string) (string, bool) {
	const (
		login = iota
		passwd
		skip
	)
	state, n, start := login, 0, 0
	for i, c := range data {
		switch state {
		case login:
			if n == 0 {
				if c == '#' || c == '\r' {
					state = skip
					continue
				}
				if c == '\n' {
					continue
				}
			}
			want := byte(':')
			if n < len(user) {
				want = user[n]
			}
			if c != want {
				state = skip
				continue
			}
			if n == len(user) {
				state, start = passwd, i+1
			}
			n++
		case passwd:
			if c == '\n' || c == '\r' || c == ':' {
				return string(data[start:i]), true
			}
		case skip:
			if c == '\n' {
				state, n = login, 0
			}
		}
	}
	if state == passwd {
		return string(data[start:]), true
	}
	return "", false
}
