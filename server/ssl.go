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
	{Name: "ssl_trusted_certificate", Once: true, Type: conf.HTTPMain | conf.HTTPSrv | conf.Take1, Module: "ngx_http_ssl_module", Status: conf.Pending, Planned: sslPlanned, Set: setSSLOnce(func(c *SSLConf) *conf.Setting[string] { return &c.TrustedCertificate })},
}

const sslPlanned = "TLS (not filed yet)"

// SSLConf is the ssl module's server-level configuration.
type SSLConf struct {
	Certificates, Keys []string
	DHParam            conf.Setting[string]
	ClientCertificate  conf.Setting[string]
	TrustedCertificate conf.Setting[string]
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
		*list = append(*list, d.Args[0].Value)
		return nil
	}
}

func setSSLOnce(f func(*SSLConf) *conf.Setting[string]) func(*conf.Scope, *parser.Directive) error {
	return func(s *conf.Scope, d *parser.Directive) error {
		return f(sslOf(s)).Put(d.Args[0].Value, d)
	}
}

// merge is ngx_http_ssl_merge_srv_conf's inheritance: certificates and
// keys come as a pair from one level.
func (c *SSLConf) merge(parent *SSLConf) {
	if c.Certificates == nil {
		c.Certificates, c.Keys = parent.Certificates, parent.Keys
	}
	c.DHParam.Merge(parent.DHParam, "")
	c.ClientCertificate.Merge(parent.ClientCertificate, "")
	c.TrustedCertificate.Merge(parent.TrustedCertificate, "")
}

// check loads every file, as nginx does when it merges a server.
func (c *SSLConf) check(prefix string) error {
	if len(c.Keys) < len(c.Certificates) {
		return fmt.Errorf(`no "ssl_certificate_key" is defined for certificate "%s"`, c.Certificates[len(c.Keys)])
	}
	// The order and the words are ngx_http_ssl_merge_srv_conf's, which
	// name the OpenSSL call that failed.
	for i, p := range c.Certificates {
		if err := loadPEM(prefix, p, "CERTIFICATE"); err != nil {
			return fmt.Errorf(`cannot load certificate "%s": BIO_new_file() failed%v`, p, err)
		}
		if err := loadPEM(prefix, c.Keys[i], "PRIVATE KEY"); err != nil {
			return fmt.Errorf(`cannot load certificate key "%s": BIO_new_file() failed%v`, c.Keys[i], err)
		}
	}
	for _, p := range []string{c.ClientCertificate.Value, c.TrustedCertificate.Value} {
		if err := loadPEM(prefix, p, "CERTIFICATE"); err != nil {
			return fmt.Errorf(`SSL_CTX_load_verify_locations("%s") failed%v`, p, err)
		}
	}
	if err := loadPEM(prefix, c.DHParam.Value, "DH PARAMETERS"); err != nil {
		return fmt.Errorf(`BIO_new_file("%s") failed%v`, c.DHParam.Value, err)
	}
	return nil
}

// loadPEM checks that path holds a PEM block whose type ends in want; its
// error reads as the tail of nginx's message: " (2: No such file or
// directory)". An empty path is not set; paths with variables are loaded
// per handshake in nginx, not here.
func loadPEM(prefix, path, want string) error {
	if path == "" || strings.Contains(path, "$") || strings.HasPrefix(path, "data:") || strings.HasPrefix(path, "engine:") {
		return nil
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(prefix, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return errors.New(parser.Errno(err))
	}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return fmt.Errorf(" (no PEM %s found)", strings.ToLower(want))
		}
		if strings.HasSuffix(b.Type, want) {
			return nil
		}
	}
}
