package fingerprint

import (
	"io"
	"io/fs"
	"net"
	"slices"
	"strings"
)

// Read bounds. Identity files hold one short value; kernel tables
// (mountinfo, cgroup, environ, cpuinfo) can run to tens of KB on busy hosts,
// and what we need is near their start.
const (
	maxValue = 4 << 10
	maxTable = 64 << 10
)

// readLimited returns at most limit bytes of the named file.
func readLimited(fsys fs.FS, name string, limit int64) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit))
}

// readValue returns the trimmed contents of a small file, "" when it cannot
// be read.
func readValue(fsys fs.FS, name string) string {
	b, err := readLimited(fsys, name, maxValue)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func exists(fsys fs.FS, name string) bool {
	_, err := fs.Stat(fsys, name)
	return err == nil
}

// safeName reports whether s can be used as one element of a path: sysfs
// and udev names come from files a fuzzer or an odd kernel controls.
func safeName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\x00")
}

func readMachineID(fsys fs.FS) (raw, source string, ok bool) {
	for _, name := range []string{"etc/machine-id", "var/lib/dbus/machine-id"} {
		v := readValue(fsys, name)
		if v == "" || strings.EqualFold(v, "uninitialized") {
			continue
		}
		return v, "/" + name, true
	}
	return "", "", false
}

func readProductUUID(fsys fs.FS) (raw, source string, ok bool) {
	const name = "sys/class/dmi/id/product_uuid"
	v := readValue(fsys, name)
	// Firmware that has no UUID to give fills the field with one digit.
	if strings.Trim(v, "0-") == "" || strings.Trim(strings.ToLower(v), "f-") == "" {
		return "", "", false
	}
	return v, "/" + name, true
}

// readMACs returns the sorted, comma-separated MACs of physical interfaces.
func readMACs(fsys fs.FS) (raw, source string, ok bool) {
	ifaces, err := fs.ReadDir(fsys, "sys/class/net")
	if err != nil {
		return "", "", false
	}
	var macs, names []string
	for _, e := range ifaces {
		name := e.Name()
		if name == "lo" || !safeName(name) {
			continue
		}
		dir := "sys/class/net/" + name
		if !exists(fsys, dir+"/device") {
			continue // virtual: bridge, veth, tun, bond, ...
		}
		mac, ok := parseMAC(readValue(fsys, dir+"/address"))
		if !ok || !stableMAC(fsys, dir, mac) {
			continue
		}
		names = append(names, name)
		if !slices.Contains(macs, mac) {
			macs = append(macs, mac)
		}
	}
	if len(macs) == 0 {
		return "", "", false
	}
	slices.Sort(macs)
	return strings.Join(macs, ","), "/sys/class/net/*/address (" + strings.Join(names, ", ") + ")", true
}

// stableMAC reports whether an interface's address stays across reboots.
// The kernel says how the address was assigned (addr_assign_type: 0 the
// device's own, 1 random, 2 stolen from another device, 3 set by user
// space); an address the device reports as its own counts even when it is
// locally administered, as a hypervisor's virtio NIC (libvirt's 52:54:00)
// is. Without that file, locally administered addresses are left out.
func stableMAC(fsys fs.FS, dir, mac string) bool {
	switch readValue(fsys, dir+"/addr_assign_type") {
	case "0", "3":
		return true
	case "1", "2":
		return false
	}
	hw, _ := net.ParseMAC(mac)
	return hw[0]&0x02 == 0
}

// parseMAC returns s in canonical form, or false for a malformed or
// all-zero address.
func parseMAC(s string) (string, bool) {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) == 0 {
		return "", false
	}
	zero := true
	for _, b := range hw {
		if b != 0 {
			zero = false
			break
		}
	}
	if zero {
		return "", false
	}
	return hw.String(), true
}

func (c Collector) readHostname(fsys fs.FS) (raw, source string, ok bool) {
	var v string
	if c.Hostname != nil {
		h, err := c.Hostname()
		if err != nil {
			return "", "", false
		}
		v, source = h, "hostname"
	} else {
		v, source = readValue(fsys, "proc/sys/kernel/hostname"), "/proc/sys/kernel/hostname"
	}
	v = strings.ToLower(strings.TrimSpace(v))
	if v == "" {
		return "", "", false
	}
	return v, source, true
}
