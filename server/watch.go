package server

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"edge/internal/errlog"
)

// Watching the configuration's files. Editors replace a file by
// renaming another over it, vim writes a backup first, Kubernetes swaps
// a "..data" symlink, a deploy deletes then creates: a watch on the file
// itself dies with the first of these. So the watcher watches the
// directory of every file and include pattern the configuration read,
// takes any event there (but a chmod, or a write to edge's own logs) as
// a hint, and after a quiet debounce asks the Reloader, whose content
// hash decides whether anything changed.

// debounce is how long the files must stay quiet before a reload: a
// burst of writes is one reload.
const debounce = 100 * time.Millisecond

// Watcher reloads the configuration when its files change.
type Watcher struct {
	r    *Reloader
	w    *fsnotify.Watcher
	done chan struct{}
	wg   sync.WaitGroup
	// recheck asks the loop for a check: a directory watched only
	// after its files were read may have changed in between.
	recheck chan struct{}

	// mu guards dirs and own.
	mu   sync.Mutex
	dirs map[string]bool
	own  map[string]bool // files edge writes: its logs and pid file
}

// Watch starts watching the files of r's configuration.
func Watch(r *Reloader) (*Watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	w := &Watcher{r: r, w: fw, done: make(chan struct{}), recheck: make(chan struct{}, 1), dirs: map[string]bool{}}
	w.Sync()
	w.wg.Add(1)
	go w.loop()
	return w, nil
}

// Close stops watching.
func (w *Watcher) Close() {
	close(w.done)
	w.w.Close()
	w.wg.Wait()
}

// Sync watches the directories of the files the last attempts read,
// and no others. A directory it begins to watch (a Kubernetes swap
// points at a new one) was not watched when the reload read its files:
// Sync asks for a check, which the content hash makes cheap.
func (w *Watcher) Sync() {
	want := map[string]bool{}
	for _, p := range w.r.Files() {
		want[watchDir(p)] = true
		// A symlinked file (sites-enabled/x -> ../sites-available/x)
		// also changes where its target lives.
		if real, err := filepath.EvalSymlinks(p); err == nil && real != p {
			want[filepath.Dir(real)] = true
		}
	}
	own := map[string]bool{}
	if m := w.r.Conf(); m != nil {
		for _, p := range m.LogFiles {
			own[p] = true
		}
		if m.PidFile.Value != "" {
			own[m.PidFile.Value] = true
		}
	}
	// A directory that does not exist yet cannot be watched: its
	// nearest existing ancestor is, so that its creation is seen.
	watch := map[string]bool{}
	for d := range want {
		for dir := d; ; dir = filepath.Dir(dir) {
			if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
				watch[dir] = true
				break
			}
			if dir == "/" || dir == "." {
				break
			}
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.own = own
	for d := range w.dirs {
		if !watch[d] {
			w.w.Remove(d)
			delete(w.dirs, d)
		}
	}
	for d := range watch {
		if w.dirs[d] || w.w.Add(d) != nil {
			continue
		}
		w.dirs[d] = true
		select {
		case w.recheck <- struct{}{}:
		default:
		}
	}
}

// watchDir is the directory whose entries decide a path: its parent,
// or for a pattern the deepest directory without a wildcard.
func watchDir(p string) string {
	if i := strings.IndexAny(p, "*?["); i >= 0 {
		p = p[:i]
		if j := strings.LastIndexByte(p, '/'); j >= 0 {
			return filepath.Clean(p[:j+1])
		}
		return "."
	}
	return filepath.Dir(p)
}

// relevant reports whether an event may change the configuration.
func (w *Watcher) relevant(ev fsnotify.Event) bool {
	if ev.Op == fsnotify.Chmod {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return !w.own[ev.Name]
}

func (w *Watcher) loop() {
	defer w.wg.Done()
	// A change between the first load and the first watch is seen too,
	// after the debounce like any other: a file being written in place
	// as watching begins is read once whole (an empty site.conf read
	// between the truncation and the write is a valid configuration
	// without that site).
	timer := time.NewTimer(debounce)
	fire := timer.C
	for {
		select {
		case <-w.done:
			return
		case ev, ok := <-w.w.Events:
			if !ok {
				return
			}
			if !w.relevant(ev) {
				continue
			}
			if timer == nil {
				timer = time.NewTimer(debounce)
				fire = timer.C
			} else {
				timer.Reset(debounce)
			}
		case <-w.recheck:
			if timer == nil {
				timer = time.NewTimer(debounce)
				fire = timer.C
			}
		case err, ok := <-w.w.Errors:
			if !ok {
				return
			}
			// An overflowed queue loses events, not changes: the hash
			// will tell.
			w.r.Log(errlog.Warn, "watching the configuration: %v", err)
			if timer == nil {
				timer = time.NewTimer(debounce)
				fire = timer.C
			}
		case <-fire:
			timer, fire = nil, nil
			w.r.Reload("a configuration file changed", false)
			w.Sync()
		}
	}
}
