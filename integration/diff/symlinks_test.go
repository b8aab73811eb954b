package diff

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"edge/integration/harness"
	"edge/server"
)

const symlinksConf = `error_log %[2]s/%[3]s.error.log info;
events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:%[1]d;
        server_name localhost;
        root %[2]s/html;
        location /on/ { alias %[2]s/html/; disable_symlinks on; }
        location /owner/ { alias %[2]s/html/; disable_symlinks if_not_owner; }
        location /a/ { root %[2]s/rootlink; disable_symlinks on; }
        location /b/ { root %[2]s/rootlink; disable_symlinks on from=$document_root; }
        location /idx/ { alias %[2]s/html/idx/; disable_symlinks on; }
        location /tf/ { root %[2]s/html; disable_symlinks on; try_files /link.txt /real/file.txt =404; }
        location /if/ { disable_symlinks on; if (-f %[2]s/html/link.txt) { return 200 "followed"; } return 200 "refused"; }
        location /gz/ { alias %[2]s/html/; disable_symlinks on; gzip_static on; }
    }
}
`

// TestDisableSymlinks: symbolic links refused as nginx refuses them, in
// the last component (403), in a directory on the way (404: nginx opens
// it without following and then finds no directory), by owner, and not
// in the from= prefix; for static files, index files, try_files, if's
// -f and gzip_static.
func TestDisableSymlinks(t *testing.T) {
	nginx := harness.Require(t, "nginx", "nginx")
	dir := t.TempDir()
	html := filepath.Join(dir, "html")
	for _, d := range []string{"real", "a", "b", "idx"} {
		os.MkdirAll(filepath.Join(html, d), 0o755)
	}
	for _, f := range []string{"real/file.txt", "a/file.txt", "b/file.txt", "idx/target.html", "page.html"} {
		os.WriteFile(filepath.Join(html, f), []byte(f+"\n"), 0o644)
	}
	os.Symlink("real/file.txt", filepath.Join(html, "link.txt"))
	os.Symlink("real", filepath.Join(html, "linkdir"))
	os.Symlink("real/file.txt", filepath.Join(html, "nobody.txt"))
	os.Lchown(filepath.Join(html, "nobody.txt"), 65534, 65534)
	os.Symlink("html", filepath.Join(dir, "rootlink"))
	os.Symlink("target.html", filepath.Join(html, "idx", "index.html"))
	os.Symlink("page.html", filepath.Join(html, "page.html.gz"))
	conf := func(name string) func(int) string {
		return func(port int) string { return fmt.Sprintf(symlinksConf, port, dir, name) }
	}
	nport, eport := startServer(t, nginx, "nginx", dir, conf("nginx")), startServer(t, edgeBin, "edge", dir, conf("edge"))
	for _, path := range []string{"/link.txt", "/linkdir/file.txt", "/on/real/file.txt", "/on/link.txt", "/on/linkdir/file.txt",
		"/owner/link.txt", "/owner/nobody.txt", "/a/file.txt", "/b/file.txt", "/idx/", "/tf/", "/if/", "/gz/page.html"} {
		req := "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
		var n, e string
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); n = unbrand(rawExchange(t, nport, req), "nginx/"+server.NginxVersion, nport) }()
		go func() { defer wg.Done(); e = unbrand(rawExchange(t, eport, req), "edge/"+server.Version, eport) }()
		wg.Wait()
		if n != e {
			t.Errorf("%s:\nnginx:\n%s\nedge:\n%s", path, n, e)
		}
	}
	nlog := errorLines(t, filepath.Join(dir, "nginx.error.log"), nport)
	elog := errorLines(t, filepath.Join(dir, "edge.error.log"), eport)
	if strings.Join(nlog, "\n") != strings.Join(elog, "\n") {
		t.Errorf("error logs differ:\nnginx:\n%s\nedge:\n%s", strings.Join(nlog, "\n"), strings.Join(elog, "\n"))
	}
}
