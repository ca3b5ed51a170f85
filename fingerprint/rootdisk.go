package fingerprint

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// rootMount is the file system mounted at / as /proc/self/mountinfo
// describes it.
type rootMount struct {
	major, minor uint64
	source       string // e.g. "/dev/nvme0n1p2", "overlay"
}

func (r rootMount) dev() string { return fmt.Sprintf("%d:%d", r.major, r.minor) }

// readRootDisk returns the file-system UUID of the root device, or failing
// that the serial number or WWID of the disk it is on.
//
// Every step works on a plain fs.FS (udev database, uevent files, sysfs
// directories); the /dev/disk/by-uuid and /sys/dev/block symlinks are read
// only when the FS can read links (os.DirFS and fstest.MapFS can).
func readRootDisk(fsys fs.FS) (raw, source string, ok bool) {
	root, ok := findRootMount(fsys)
	if !ok {
		return "", "", false
	}
	name := blockDeviceName(fsys, &root)
	if root.major != 0 {
		udev := "run/udev/data/b" + root.dev()
		if uuid := udevProperty(fsys, udev, "ID_FS_UUID"); uuid != "" {
			return uuid, "/" + udev, true
		}
	}
	if name == "" {
		return "", "", false
	}
	if uuid := uuidByLink(fsys, name); uuid != "" {
		return uuid, "/dev/disk/by-uuid/" + uuid, true
	}
	disk := parentDisk(fsys, name)
	for _, f := range []string{"device/serial", "serial", "device/wwid", "wwid"} {
		p := "sys/block/" + disk + "/" + f
		if v := readValue(fsys, p); v != "" {
			return v, "/" + p, true
		}
	}
	return "", "", false
}

// findRootMount returns the last mount at "/" in proc/self/mountinfo: later
// mounts cover earlier ones. A line reads
//
//	27 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw
//
// with optional fields before the "-".
func findRootMount(fsys fs.FS) (rootMount, bool) {
	b, err := readLimited(fsys, "proc/self/mountinfo", maxTable)
	if err != nil {
		return rootMount{}, false
	}
	var root rootMount
	found := false
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) < 7 || f[4] != "/" {
			continue
		}
		major, minor, ok := parseDev(f[2])
		if !ok {
			continue
		}
		root = rootMount{major: major, minor: minor}
		for i := 6; i+2 < len(f); i++ {
			if f[i] == "-" {
				root.source = f[i+2]
				break
			}
		}
		found = true
	}
	return root, found
}

// parseDev parses "MAJOR:MINOR".
func parseDev(s string) (major, minor uint64, ok bool) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return 0, 0, false
	}
	major, err1 := strconv.ParseUint(a, 10, 32)
	minor, err2 := strconv.ParseUint(b, 10, 32)
	return major, minor, err1 == nil && err2 == nil
}

// blockDeviceName returns the kernel name ("nvme0n1p2", "dm-0") of the root
// device, "" when it is not a block device. For file systems that report an
// anonymous device number (btrfs, overlay) it fills in root's real device
// number from the source device when there is one.
func blockDeviceName(fsys fs.FS, root *rootMount) string {
	var name string
	if root.major != 0 {
		sys := "sys/dev/block/" + root.dev()
		name = ueventProperty(fsys, sys+"/uevent", "DEVNAME")
		if name == "" {
			if target, err := fs.ReadLink(fsys, sys); err == nil {
				name = path.Base(target)
			}
		}
	}
	if name == "" && strings.HasPrefix(root.source, "/dev/") && root.source != "/dev/root" {
		name = path.Base(root.source)
		// /dev/mapper/root and the like are links to the kernel name.
		if target, err := fs.ReadLink(fsys, strings.TrimPrefix(root.source, "/")); err == nil {
			name = path.Base(target)
		}
		if root.major == 0 && safeName(name) {
			if major, minor, ok := parseDev(readValue(fsys, "sys/class/block/"+name+"/dev")); ok {
				root.major, root.minor = major, minor
			}
		}
	}
	// DEVNAME is relative to /dev and could name a subdirectory; sysfs
	// names are single path elements.
	name = path.Base(name)
	if !safeName(name) {
		return ""
	}
	return name
}

// uuidByLink finds the /dev/disk/by-uuid link that points at the device.
func uuidByLink(fsys fs.FS, name string) string {
	links, err := fs.ReadDir(fsys, "dev/disk/by-uuid")
	if err != nil {
		return ""
	}
	for _, l := range links {
		target, err := fs.ReadLink(fsys, "dev/disk/by-uuid/"+l.Name())
		if err == nil && path.Base(target) == name && safeName(l.Name()) {
			return l.Name()
		}
	}
	return ""
}

// parentDisk returns the disk a partition is on ("nvme0n1" for
// "nvme0n1p2"), or name itself when it is a whole disk or its disk cannot
// be found. Partitions appear as directories inside their disk's directory.
func parentDisk(fsys fs.FS, name string) string {
	if exists(fsys, "sys/block/"+name) {
		return name
	}
	disks, err := fs.ReadDir(fsys, "sys/block")
	if err != nil {
		return name
	}
	for _, d := range disks {
		if safeName(d.Name()) && exists(fsys, "sys/block/"+d.Name()+"/"+name) {
			return d.Name()
		}
	}
	return name
}

// udevProperty returns KEY from a udev database file, whose property lines
// read "E:KEY=value".
func udevProperty(fsys fs.FS, file, key string) string {
	return property(fsys, file, "E:"+key+"=")
}

// ueventProperty returns KEY from a sysfs uevent file ("KEY=value" lines).
func ueventProperty(fsys fs.FS, file, key string) string {
	return property(fsys, file, key+"=")
}

func property(fsys fs.FS, file, prefix string) string {
	b, err := readLimited(fsys, file, maxValue)
	if err != nil {
		return ""
	}
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), prefix); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
