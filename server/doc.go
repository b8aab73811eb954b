// Package server owns edge's HTTP side: the typed configuration model that
// the directive tables fill, the compiled Runtime that answers requests,
// and the listeners. Each nginx module it mirrors has its own file group,
// with its commands at the top. It does not parse syntax (package parser)
// or run the table engine (package internal/conf).
package server
