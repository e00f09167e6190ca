package embedded

import (
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// WALSyncFS returns fs (nil: the OS's) with every sync of Pebble's
// write-ahead log files (the *.log files it creates or recycles) timed and
// reported to observe; other files pass through untouched. Open uses it
// for Options.WALSyncObserver; the node also gives it to a ledger that has
// its own database.
func WALSyncFS(fs vfs.FS, observe func(time.Duration)) vfs.FS {
	if fs == nil {
		fs = vfs.Default
	}
	return walSyncFS{FS: fs, observe: observe}
}

type walSyncFS struct {
	vfs.FS
	observe func(time.Duration)
}

func (fs walSyncFS) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil || !strings.HasSuffix(name, ".log") {
		return f, err
	}
	return walSyncFile{File: f, observe: fs.observe}, nil
}

func (fs walSyncFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, c)
	return fs.wrap(name, f, err)
}

func (fs walSyncFS) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, c)
	return fs.wrap(newname, f, err)
}

type walSyncFile struct {
	vfs.File
	observe func(time.Duration)
}

func (f walSyncFile) Sync() error {
	start := time.Now()
	err := f.File.Sync()
	f.observe(time.Since(start))
	return err
}

func (f walSyncFile) SyncData() error {
	start := time.Now()
	err := f.File.SyncData()
	f.observe(time.Since(start))
	return err
}

func (f walSyncFile) SyncTo(n int64) (bool, error) {
	start := time.Now()
	full, err := f.File.SyncTo(n)
	f.observe(time.Since(start))
	return full, err
}
