package reload

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// BenchmarkReload1000Servers: the time from writing a file of a 1,000-
// server configuration to the new configuration answering (the watcher's
// debounce, parsing, compiling and the swap). Target: under 300 ms.
//
//	go test -run '^$' -bench Reload1000 -benchtime 20x ./integration/reload
func BenchmarkReload1000Servers(b *testing.B) {
	servers := func(in *instance, v int) string {
		var s strings.Builder
		for i := 0; i < 999; i++ {
			fmt.Fprintf(&s, "server {\n    listen 127.0.0.1:%d;\n    server_name s%d.example.com www.s%d.example.com;\n    location / { root /srv/s%d; }\n    location ~ \\.php$ { return 404; }\n}\n", in.port, i, i, i)
		}
		fmt.Fprintf(&s, "server {\n    listen 127.0.0.1:%d default_server;\n    location / { return 200 \"v%d\"; }\n}\n", in.port, v)
		return s.String()
	}
	in := startSite(b, "", func(in *instance) string { return servers(in, 1) })
	b.ResetTimer()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		v := i + 2
		text := servers(in, v)
		start := time.Now()
		os.WriteFile(in.site(), []byte(text), 0o644)
		for in.version() != v {
			if time.Since(start) > 10*time.Second {
				b.Fatalf("version %d not in force after 10 s", v)
			}
			time.Sleep(time.Millisecond)
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/reload")
}
