// Package fingerprint computes this Linux host's machine code and matches a
// host against the machines a license is bound to.
//
// A machine code is 32 lowercase hex digits derived from hashed components of
// the host's hardware and system identity. Each component is read, trimmed,
// lower-cased and hashed on its own (HashComponent), so a license can record
// the component hashes without revealing the raw values, and Match can
// tolerate a policy-defined number of changed components (a replaced network
// card, a renamed host) instead of demanding the exact code.
//
// The components, in the fixed order they are combined in (Order):
//
//   - machine-id: /etc/machine-id, else /var/lib/dbus/machine-id. Written once
//     by systemd or dbus at install time; empty and "uninitialized" values are
//     ignored.
//   - product-uuid: /sys/class/dmi/id/product_uuid, the firmware's system
//     UUID. Usually readable only by root, so unprivileged processes skip it;
//     all-zero and all-F placeholder UUIDs are ignored.
//   - mac: the sorted MAC addresses of physical network interfaces, one hash
//     over the whole list. An interface is physical when
//     /sys/class/net/NAME/device exists, which leaves out bridges, veth
//     pairs, tunnels and bonds. Loopback and all-zero addresses are
//     skipped, and so are addresses the kernel says were randomized or
//     stolen (/sys/class/net/NAME/addr_assign_type 1 or 2); where that file
//     is missing, locally administered addresses (bit 0x02 of the first
//     octet) are skipped instead.
//   - root-disk: the identity of the disk holding the root file system. The
//     device mounted at / is found in /proc/self/mountinfo; its file-system
//     UUID is read from the udev database (/run/udev/data/bMAJOR:MINOR,
//     E:ID_FS_UUID) or from the /dev/disk/by-uuid symlinks, falling back to
//     the disk's serial number or WWID under /sys/block/DISK (device/serial,
//     serial, device/wwid, wwid).
//   - hostname: the host name (os.Hostname), trimmed and lower-cased.
//
// Any component that cannot be read (missing, permission denied, empty) is
// skipped; Collect fails only when it finds none at all. No file is read
// beyond a small bound, so a hostile or odd /proc or /sys cannot make
// collection slow or large.
//
// Containers. A container has its own /etc (machine-id comes from the image
// or is generated at start), its own network namespace (only veth
// interfaces, which have no device and so no MAC component) and an overlay
// root file system (no root-disk component), while /sys/class/dmi may or may
// not show the host's product-uuid. The code is therefore usually weak and
// changes when the container is recreated. Collect reports Environment
// "container" and warns: mount /etc/machine-id read-only from the host, use
// host networking, or better, run the site server on the host itself. A
// container is recognised by /.dockerenv, /run/.containerenv,
// /run/systemd/container, a container runtime named in /proc/1/cgroup, or
// container= in /proc/1/environ.
//
// Virtual machines. A VM has all five components, but they belong to the VM
// image and its configuration: cloning the image copies machine-id and the
// root file-system UUID, and moving or re-creating the VM on another host
// can change product-uuid and MACs. Hypervisors and clouds often hand out
// locally administered MACs (libvirt's 52:54:00:..., EC2, GCE); the virtio
// NIC reports them as its own (addr_assign_type 0), so they count. Collect reports Environment "vm" with
// the hypervisor named by /sys/class/dmi/id/sys_vendor or product_name, or
// only the "hypervisor" CPU flag in /proc/cpuinfo, and warns accordingly.
package fingerprint

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/licensor/licensor/codes"
)

// The component names. They are part of the license format: never rename.
const (
	MachineID   = "machine-id"
	ProductUUID = "product-uuid"
	MAC         = "mac"
	RootDisk    = "root-disk"
	Hostname    = "hostname"
)

// Order is the fixed order components are combined in.
var Order = []string{MachineID, ProductUUID, MAC, RootDisk, Hostname}

// The environments Collect reports.
const (
	BareMetal = "bare-metal"
	VM        = "vm"
	Container = "container"
)

// Component is one hashed piece of the host's identity.
type Component struct {
	Name   string `json:"name"`
	Hash   string `json:"hash"`   // HashComponent(Name, raw value)
	Source string `json:"source"` // where it was read, e.g. "/etc/machine-id"
}

// Fingerprint is what Collect finds out about this host.
type Fingerprint struct {
	Code        string      `json:"machine_code"`
	Components  []Component `json:"components"`           // in Order, only those found
	Environment string      `json:"environment"`          // BareMetal, VM or Container
	Hypervisor  string      `json:"hypervisor,omitempty"` // e.g. "KVM", "VMware" when Environment is VM
	Warnings    []string    `json:"warnings,omitempty"`
}

// Hashes returns name -> hash for the components.
func (f *Fingerprint) Hashes() map[string]string {
	m := make(map[string]string)
	if f == nil {
		return m
	}
	for _, c := range f.Components {
		m[c.Name] = c.Hash
	}
	return m
}

// Collector reads the host's identity from a file-system tree, so tests can
// fake /etc, /sys, /proc, /run and /dev.
type Collector struct {
	// FS is rooted at "/": names have no leading slash, e.g.
	// "etc/machine-id". Nil means os.DirFS("/").
	FS fs.FS
	// Hostname returns the host name. Nil means reading
	// proc/sys/kernel/hostname from FS.
	Hostname func() (string, error)
}

// Collect fingerprints this host.
func Collect() (*Fingerprint, error) {
	return Collector{FS: os.DirFS("/"), Hostname: os.Hostname}.Collect()
}

// Collect reads every component it can and computes the machine code. It
// fails only when no component at all can be read.
func (c Collector) Collect() (*Fingerprint, error) {
	fsys := c.FS
	if fsys == nil {
		fsys = os.DirFS("/")
	}
	readers := map[string]func() (raw, source string, ok bool){
		MachineID:   func() (string, string, bool) { return readMachineID(fsys) },
		ProductUUID: func() (string, string, bool) { return readProductUUID(fsys) },
		MAC:         func() (string, string, bool) { return readMACs(fsys) },
		RootDisk:    func() (string, string, bool) { return readRootDisk(fsys) },
		Hostname:    func() (string, string, bool) { return c.readHostname(fsys) },
	}
	f := &Fingerprint{Components: []Component{}}
	for _, name := range Order {
		raw, source, ok := readers[name]()
		if !ok {
			continue
		}
		f.Components = append(f.Components, Component{Name: name, Hash: HashComponent(name, raw), Source: source})
	}
	if len(f.Components) == 0 {
		return nil, codes.Errorf(codes.Fingerprint, "no machine identity found on this host: none of %s could be read", strings.Join(Order, ", ")).
			WithFix("Run licensor on the host itself rather than in a minimal sandbox, and make sure /etc/machine-id exists and is readable (systemd-machine-id-setup creates it).")
	}
	f.Code = CodeOf(f.Hashes())
	f.Environment, f.Hypervisor = detectEnvironment(fsys)
	f.Warnings = warnings(f)
	return f, nil
}

// HashComponent returns the hash recorded for a component: the hex of the
// first 16 bytes of SHA-256 over a domain prefix, the name and the
// normalized (trimmed, lower-cased) raw value.
func HashComponent(name, raw string) string {
	h := sha256.New()
	io.WriteString(h, "licensor/fingerprint/v1\x00")
	io.WriteString(h, name)
	io.WriteString(h, "\x00")
	io.WriteString(h, strings.ToLower(strings.TrimSpace(raw)))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// CodeOf returns the machine code for a set of component hashes: the first
// 32 hex digits of SHA-256 over the components present, in Order. Names not
// in Order are ignored.
func CodeOf(hashes map[string]string) string {
	h := sha256.New()
	io.WriteString(h, "licensor-machine-v1\n")
	for _, name := range Order {
		if v, ok := hashes[name]; ok {
			fmt.Fprintf(h, "%s=%s\n", name, v)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// ValidCode reports whether s is a machine code: exactly 32 lowercase hex.
func ValidCode(s string) bool { return isHex32(s) }

// ValidHash reports whether s is a component hash: exactly 32 lowercase hex.
func ValidHash(s string) bool { return isHex32(s) }

func isHex32(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
