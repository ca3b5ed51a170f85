package keyfile

import (
	"io/fs"
	"syscall"
)

// fileID tells one version of the key file from another without reading
// it. The inode catches a renewal written (by rename) within the
// modification time's granularity with the same size.
type fileID struct {
	size, mtime int64
	ino, ctime  uint64
}

func idOf(fi fs.FileInfo) fileID {
	id := fileID{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.ino = st.Ino
		id.ctime = uint64(st.Ctim.Sec)*1e9 + uint64(st.Ctim.Nsec)
	}
	return id
}
