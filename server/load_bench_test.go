package server

import (
	"fmt"
	"strings"
	"testing"
)

// genServers writes a configuration of n server blocks of about ten lines
// each, the shape of a large virtual-hosting configuration.
func genServers(n int) []byte {
	var b strings.Builder
	b.WriteString("worker_processes auto;\nevents {\n    worker_connections 1024;\n}\nhttp {\n    sendfile on;\n    keepalive_timeout 65;\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `    server {
        listen 127.0.0.1:%d;
        server_name site%d.example.com www.site%d.example.com;
        client_max_body_size 10m;
        location / {
            default_type text/html;
            return 200 "site %d";
        }
        location ~* \.(png|jpg)$ {
            return 404;
        }
    }
`, 10000+i%100, i, i, i)
	}
	b.WriteString("}\n")
	return []byte(b.String())
}

// BenchmarkLoad10kServers parses and validates a configuration of 10,000
// server blocks (about 120,000 lines) into the typed model.
func BenchmarkLoad10kServers(b *testing.B) {
	data := genServers(10000)
	t := Table()
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		m, _, err := Load(t, "bench.conf", data, b.TempDir(), ".", nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := Check(m); err != nil {
			b.Fatal(err)
		}
	}
}
