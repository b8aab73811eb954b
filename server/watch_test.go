package server

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/fsnotify/fsnotify"
)

// A reload reads its files before the watcher adds their directories:
// a write in between (to the new directory a Kubernetes "..data" swap
// points at) raises no event. Sync therefore asks for a check whenever
// it begins watching a directory, and only then, or an absent
// directory would make a check loop.
func TestSyncRechecksNewDirectories(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"a", "b"} {
		os.Mkdir(filepath.Join(root, d), 0o755)
	}
	files := []string{filepath.Join(root, "a", "site.conf"), filepath.Join(root, "missing", "x.conf")}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer fw.Close()
	// No loop: the test drives Sync and reads recheck.
	w := &Watcher{r: &Reloader{files: files}, w: fw, recheck: make(chan struct{}, 1), dirs: map[string]bool{}}
	drain := func() bool {
		select {
		case <-w.recheck:
			return true
		default:
			return false
		}
	}
	w.Sync()
	if !drain() {
		t.Error("the first Sync asked for no check")
	}
	w.Sync()
	if drain() {
		t.Error("a Sync that added no directory asked for a check")
	}
	w.r.files = append(files, filepath.Join(root, "b", "site.conf"))
	w.Sync()
	if !drain() {
		t.Error("a Sync that began watching a directory asked for no check")
	}
	if !w.dirs[filepath.Join(root, "b")] || !w.dirs[root] {
		t.Errorf("watched %v", w.dirs)
	}
}
