package server

// Version is edge's release, and NginxVersion the nginx release whose
// behaviour it follows: the reference binary of the differential tests
// (Debian 12's nginx).
const (
	Version      = "0.1.0"
	NginxVersion = "1.22.1"
)

// serverTokens gives the Server header and the tail of the built-in error
// pages for a server_tokens value, as ngx_http_header_filter and
// ngx_http_send_special_response build them. "build" adds nginx's build
// name, which edge does not have (nor Debian's nginx): it is "on".
func serverTokens(v string) (header, tail string) {
	name := "edge"
	if v != "off" {
		name += "/" + Version
	}
	return name, "<hr><center>" + name + "</center>\r\n"
}
