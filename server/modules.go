package server

import "edge/internal/conf"

// Modules is edge's module list, in nginx's order of precedence: the
// modules edge implements come first, then nginx's full declaration list,
// which fills in every directive edge does not implement (as tuning,
// pending or unsupported) so that none is unknown to it. It is a plain
// list, like nginx's generated ngx_modules[], not a registry filled by
// init functions.
var Modules = [][]conf.Command{
	CoreCommands,
	CharsetCommands,
	StaticCommands,
	AutoindexCommands,
	TryFilesCommands,
	ErrorPageCommands,
	AccessCommands,
	AuthBasicCommands,
	HeadersCommands,
	GzipCommands,
	ProxyCommands,
	ProxySSLCommands,
	UpstreamCommands,
	HealthCheckCommands,
	LogCommands,
	SSLCommands,
	NginxCommands,
}

// Table is the directive table of Modules.
func Table() *conf.Table { return conf.NewTable(Modules...) }
