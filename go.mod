module edge

go 1.26.8

require github.com/alecthomas/participle/v2 v2.1.4

require github.com/dlclark/regexp2 v1.12.0

require golang.org/x/crypto v0.59.0

require golang.org/x/sys v0.50.0

require github.com/fsnotify/fsnotify v1.10.1 // indirect
