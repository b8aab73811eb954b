// Package parser reads nginx configuration syntax into a tree of directives
// with positions, expanding include directives in place. It does not know
// what any directive means: that is internal/conf's directive table.
//
// The tokenizer is a port of nginx 1.22's ngx_conf_read_token, so a file is
// split into the same words, with the same escapes, and a broken file fails
// with nginx's message at nginx's line. The grammar on top of it is written
// with participle.
package parser
