package main

import (
	"strings"

	"edge/internal/conf"
)

// buildModule is how nginx's configure names a module: Optional modules
// are built with --with-NAME, default ones can be left out with
// --without-NAME.
type buildModule struct {
	module   string // ngx_module_t name
	name     string // configure's name for it
	optional bool
}

var buildModules = []buildModule{
	{"ngx_http_ssl_module", "http_ssl_module", true},
	{"ngx_http_v2_module", "http_v2_module", true},
	{"ngx_http_v3_module", "http_v3_module", true},
	{"ngx_http_realip_module", "http_realip_module", true},
	{"ngx_http_addition_filter_module", "http_addition_module", true},
	{"ngx_http_xslt_filter_module", "http_xslt_module", true},
	{"ngx_http_image_filter_module", "http_image_filter_module", true},
	{"ngx_http_geoip_module", "http_geoip_module", true},
	{"ngx_http_sub_filter_module", "http_sub_module", true},
	{"ngx_http_dav_module", "http_dav_module", true},
	{"ngx_http_flv_module", "http_flv_module", true},
	{"ngx_http_mp4_module", "http_mp4_module", true},
	{"ngx_http_gunzip_filter_module", "http_gunzip_module", true},
	{"ngx_http_gzip_static_module", "http_gzip_static_module", true},
	{"ngx_http_auth_request_module", "http_auth_request_module", true},
	{"ngx_http_random_index_module", "http_random_index_module", true},
	{"ngx_http_secure_link_module", "http_secure_link_module", true},
	{"ngx_http_degradation_module", "http_degradation_module", true},
	{"ngx_http_slice_filter_module", "http_slice_module", true},
	{"ngx_http_stub_status_module", "http_stub_status_module", true},
	{"ngx_http_perl_module", "http_perl_module", true},
	{"ngx_stream_module", "stream", true},
	{"ngx_mail_module", "mail", true},
	{"ngx_http_charset_filter_module", "http_charset_module", false},
	{"ngx_http_gzip_filter_module", "http_gzip_module", false},
	{"ngx_http_ssi_filter_module", "http_ssi_module", false},
	{"ngx_http_userid_filter_module", "http_userid_module", false},
	{"ngx_http_access_module", "http_access_module", false},
	{"ngx_http_auth_basic_module", "http_auth_basic_module", false},
	{"ngx_http_mirror_module", "http_mirror_module", false},
	{"ngx_http_autoindex_module", "http_autoindex_module", false},
	{"ngx_http_geo_module", "http_geo_module", false},
	{"ngx_http_map_module", "http_map_module", false},
	{"ngx_http_split_clients_module", "http_split_clients_module", false},
	{"ngx_http_referer_module", "http_referer_module", false},
	{"ngx_http_rewrite_module", "http_rewrite_module", false},
	{"ngx_http_proxy_module", "http_proxy_module", false},
	{"ngx_http_fastcgi_module", "http_fastcgi_module", false},
	{"ngx_http_uwsgi_module", "http_uwsgi_module", false},
	{"ngx_http_scgi_module", "http_scgi_module", false},
	{"ngx_http_grpc_module", "http_grpc_module", false},
	{"ngx_http_memcached_module", "http_memcached_module", false},
	{"ngx_http_limit_conn_module", "http_limit_conn_module", false},
	{"ngx_http_limit_req_module", "http_limit_req_module", false},
	{"ngx_http_empty_gif_module", "http_empty_gif_module", false},
	{"ngx_http_browser_module", "http_browser_module", false},
	{"ngx_http_upstream_hash_module", "http_upstream_hash_module", false},
	{"ngx_http_upstream_ip_hash_module", "http_upstream_ip_hash_module", false},
	{"ngx_http_upstream_least_conn_module", "http_upstream_least_conn_module", false},
	{"ngx_http_upstream_random_module", "http_upstream_random_module", false},
	{"ngx_http_upstream_keepalive_module", "http_upstream_keepalive_module", false},
	{"ngx_http_upstream_zone_module", "http_upstream_zone_module", false},
}

// configureArguments is `nginx -V`'s last line, derived from the table: a
// module counts as built only when every one of its directives is
// implemented or tuning, so the line never claims what edge does not do.
func configureArguments(t *conf.Table) string {
	done := map[string]bool{}
	for _, c := range t.Commands() {
		ok := c.Status == conf.Implemented || c.Status == conf.Tuning
		if prev, seen := done[c.Module]; seen {
			ok = ok && prev
		}
		done[c.Module] = ok
	}
	var args []string
	for _, m := range buildModules {
		switch built := done[m.module]; {
		case m.optional && built:
			args = append(args, "--with-"+m.name)
		case !m.optional && !built:
			args = append(args, "--without-"+m.name)
		}
	}
	return strings.Join(args, " ")
}
