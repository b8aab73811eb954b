// Package confd holds edge's built-in configuration, embedded in the binary
// so that `edge` runs on a fresh machine without any file.
package confd

import _ "embed"

// Default is conf.d/edge.conf.
//
//go:embed edge.conf
var Default []byte

// DefaultName is the name the built-in configuration has in messages.
const DefaultName = "edge.conf (built in)"
