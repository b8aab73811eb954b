package server

import (
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"edge/internal/conf"
	"edge/parser"
)

// SSLCommands are the certificate directives of nginx's ssl module. TLS
// lands with its own issue; until then edge checks them as nginx does,
// loading every file they name, so `edge -t` fails where nginx fails.
var SSLCommands = []conf.Command{
	{Name: "ssl_certificate", Type: conf.HTTPMain | conf.HTTPSrv | conf.Take1, Module: "ngx_http_ssl_module", Status: conf.Pending, Planned: sslPlanned, Set: setSSLFile(func(c *SSLConf) *[]string { return &c.Certificates })},
	{Name: "ssl_certificate_key", Type: conf.HTTPMain | conf.HTTPSrv | conf.Take1, Module: "ngx_http_ssl_module", Status: conf.Pending, Planned: sslPlanned, Set: setSSLFile(func(c *SSLConf) *[]string { return &c.Keys })},
	{Name: "ssl_dhparam", Once: true, Type: conf.HTTPMain | conf.HTTPSrv | conf.Take1, Module: "ngx_http_ssl_module", Status: conf.Pending, Planned: sslPlanned, Set: setSSLOnce(func(c *SSLConf) *conf.Setting[string] { return &c.DHParam })},
	{Name: "ssl_client_certificate", Once: true, Type: conf.HTTPMain | conf.HTTPSrv | conf.Take1, Module: "ngx_http_ssl_module", Status: conf.Pending, Planned: sslPlanned, Set: setSSLOnce(func(c *SSLConf) *conf.Setting[string] { return &c.ClientCertificate })},
	{Name: "ssl_verify_client", Once: true, Type: conf.HTTPMain | conf.HTTPSrv | conf.Take1, Module: "ngx_http_ssl_module", Status: conf.Pending, Planned: sslPlanned, Set: setVerifyClient},
	{Name: "ssl_trusted_certificate", Once: true, Type: conf.HTTPMain | conf.HTTPSrv | conf.Take1, Module: "ngx_http_ssl_module", Status: conf.Pending, Planned: sslPlanned, Set: setSSLOnce(func(c *SSLConf) *conf.Setting[string] { return &c.TrustedCertificate })},
}

const sslPlanned = "TLS (not filed yet)"

// SSLConf is the ssl module's server-level configuration.
type SSLConf struct {
	Certificates, Keys []string
	DHParam            conf.Setting[string]
	ClientCertificate  conf.Setting[string]
	TrustedCertificate conf.Setting[string]
	// VerifyClient is ssl_verify_client: off, on, optional or
	// optional_no_ca.
	VerifyClient conf.Setting[string]
}

// setVerifyClient is ngx_conf_set_enum_slot with ngx_http_ssl_verify.
func setVerifyClient(s *conf.Scope, d *parser.Directive) error {
	v := strings.ToLower(d.Args[0].Value)
	switch v {
	case "off", "on", "optional", "optional_no_ca":
		return sslOf(s).VerifyClient.Put(v, d)
	}
	return parser.Errorf(d.End, `invalid value "%s"`, d.Args[0].Value)
}

func sslOf(s *conf.Scope) *SSLConf {
	l := lv(s)
	if l.srv != nil {
		return &l.srv.SSL
	}
	return &l.http.SSL
}

func setSSLFile(f func(*SSLConf) *[]string) func(*conf.Scope, *parser.Directive) error {
	return func(s *conf.Scope, d *parser.Directive) error {
		list := f(sslOf(s))
		v := d.Args[0].Value
		*list = append(*list, v)
		if m := mainOf(s); !strings.Contains(v, "$") && !strings.Contains(v, ":") {
			m.Watched = append(m.Watched, fullName(m.ConfPrefix, v))
		}
		return nil
	}
}

func setSSLOnce(f func(*SSLConf) *conf.Setting[string]) func(*conf.Scope, *parser.Directive) error {
	return func(s *conf.Scope, d *parser.Directive) error {
		return f(sslOf(s)).Put(d.Args[0].Value, d)
	}
}

// merge is ngx_http_ssl_merge_srv_conf's inheritance; certificates and
// keys inherit separately, as nginx's two ngx_conf_merge_ptr_value.
func (c *SSLConf) merge(parent *SSLConf) {
	if c.Certificates == nil {
		c.Certificates = parent.Certificates
	}
	if c.Keys == nil {
		c.Keys = parent.Keys
	}
	c.VerifyClient.Merge(parent.VerifyClient, "off")
	c.DHParam.Merge(parent.DHParam, "")
	c.ClientCertificate.Merge(parent.ClientCertificate, "")
	c.TrustedCertificate.Merge(parent.TrustedCertificate, "")
}

// check loads the files a server with certificates uses, in the order
// and with the words of ngx_http_ssl_merge_srv_conf, which name the
// OpenSSL call that failed; like nginx's, its errors name no line. A
// server without certificates loads nothing.
func (c *SSLConf) check(confPrefix string) error {
	if len(c.Certificates) == 0 {
		return nil
	}
	fail := func(format string, args ...any) error {
		return &parser.Error{Msg: fmt.Sprintf(format, args...)}
	}
	// bio words a failure to read like BIO_new_file, to parse like pem.
	bio := func(err error, pem string) string {
		if err == errNoPEM {
			return pem + " failed"
		}
		return "BIO_new_file() failed" + parser.Errno(err)
	}
	if len(c.Keys) < len(c.Certificates) {
		return fail(`no "ssl_certificate_key" is defined for certificate "%s"`, c.Certificates[len(c.Certificates)-1])
	}
	for i, p := range c.Certificates {
		if err := loadPEM(confPrefix, p, "CERTIFICATE"); err != nil {
			return fail(`cannot load certificate "%s": %s`, fullName(confPrefix, p), bio(err, "PEM_read_bio_X509_AUX()"))
		}
		if err := loadPEM(confPrefix, c.Keys[i], "PRIVATE KEY"); err != nil {
			return fail(`cannot load certificate key "%s": %s`, fullName(confPrefix, c.Keys[i]), bio(err, "PEM_read_bio_PrivateKey()"))
		}
	}
	if v := c.VerifyClient.Value; v != "off" {
		if c.ClientCertificate.Value == "" && v != "optional_no_ca" {
			return fail("no ssl_client_certificate for ssl_verify_client")
		}
		if err := loadPEM(confPrefix, c.ClientCertificate.Value, "CERTIFICATE"); err != nil {
			return fail(`SSL_CTX_load_verify_locations("%s") failed%s`, fullName(confPrefix, c.ClientCertificate.Value), parser.Errno(err))
		}
	}
	if err := loadPEM(confPrefix, c.TrustedCertificate.Value, "CERTIFICATE"); err != nil {
		return fail(`SSL_CTX_load_verify_locations("%s") failed%s`, fullName(confPrefix, c.TrustedCertificate.Value), parser.Errno(err))
	}
	if err := loadPEM(confPrefix, c.DHParam.Value, "DH PARAMETERS"); err == errNoPEM {
		return fail(`PEM_read_bio_DHparams("%s") failed`, fullName(confPrefix, c.DHParam.Value))
	} else if err != nil {
		return fail(`BIO_new_file("%s") failed%s`, fullName(confPrefix, c.DHParam.Value), parser.Errno(err))
	}
	return nil
}

// fullName is ngx_conf_full_name with conf_prefix: a relative path is
// joined (not cleaned) to the main file's directory.
func fullName(confPrefix, path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return strings.TrimSuffix(confPrefix, "/") + "/" + path
}

// errNoPEM is loadPEM's error for a file without the block it wants.
var errNoPEM = errors.New("no such PEM block")

// loadPEM checks that path holds a PEM block whose type ends in want; it
// returns the read error or errNoPEM. An empty path is not set; paths
// with variables are loaded per handshake in nginx, not here.
func loadPEM(confPrefix, path, want string) error {
	if path == "" || strings.Contains(path, "$") || strings.HasPrefix(path, "data:") || strings.HasPrefix(path, "engine:") {
		return nil
	}
	data, err := os.ReadFile(fullName(confPrefix, path))
	if err != nil {
		return err
	}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return errNoPEM
		}
		if strings.HasSuffix(b.Type, want) {
			return nil
		}
	}
}
