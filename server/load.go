package server

import (
	"path/filepath"
	"strings"

	"edge/internal/conf"
	"edge/parser"
)

// Load reads the configuration at path (or data, when not nil) with its
// includes, checks every directive against the table and returns the typed
// model and the files read. prefix is nginx's -p; confPrefix resolves relative includes
// (empty: path's directory); pre holds -g directives.
func Load(t *conf.Table, path string, data []byte, prefix, confPrefix string, pre []byte) (*MainConf, *parser.Config, error) {
	tree, perr := parser.ParseBytes(path, data, confPrefix, pre)
	if confPrefix == "" {
		confPrefix = filepath.Dir(path)
	}
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	m := &MainConf{Prefix: prefix, ConfPrefix: confPrefix}
	top := &conf.Scope{Context: conf.Main, Conf: m}
	pending, err := t.Walk(tree.Directives, top, perr)
	if err != nil {
		return nil, tree, err
	}
	// Checks nginx makes once the whole file is read (ngx_event_init_conf).
	if m.Events == nil {
		return nil, tree, &parser.Error{Msg: `no "events" section in configuration`}
	}
	m.Pending = append(pending, m.Pending...)
	return m, tree, nil
}
