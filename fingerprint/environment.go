package fingerprint

import (
	"bytes"
	"fmt"
	"io/fs"
	"strings"
)

// detectEnvironment tells a container from a VM from bare metal. A
// container wins over a VM: a container in a VM has the container's
// instability, which is the one worth warning about.
func detectEnvironment(fsys fs.FS) (env, hypervisor string) {
	if inContainer(fsys) {
		return Container, ""
	}
	if h, ok := detectHypervisor(fsys); ok {
		return VM, h
	}
	return BareMetal, ""
}

// containerRuntimes are words that appear in /proc/1/cgroup paths when PID 1
// runs under a container runtime (cgroup v1, or v2 with a private
// namespace off).
var containerRuntimes = []string{"docker", "kubepods", "containerd", "lxc", "podman", "libpod"}

func inContainer(fsys fs.FS) bool {
	for _, marker := range []string{".dockerenv", "run/.containerenv", "run/systemd/container"} {
		if exists(fsys, marker) {
			return true
		}
	}
	if b, err := readLimited(fsys, "proc/1/cgroup", maxTable); err == nil {
		s := strings.ToLower(string(b))
		for _, rt := range containerRuntimes {
			if strings.Contains(s, rt) {
				return true
			}
		}
	}
	// Usually readable only by root; set by systemd-nspawn, LXC, podman.
	if b, err := readLimited(fsys, "proc/1/environ", maxTable); err == nil {
		for v := range bytes.SplitSeq(b, []byte{0}) {
			if bytes.HasPrefix(v, []byte("container=")) {
				return true
			}
		}
	}
	return false
}

// hypervisors maps a lower-case word of sys_vendor or product_name to the
// hypervisor's name. KVM comes before QEMU: KVM guests report the vendor
// "QEMU" and sometimes the product "KVM".
var hypervisors = []struct{ word, name string }{
	{"kvm", "KVM"},
	{"qemu", "QEMU"},
	{"vmware", "VMware"},
	{"virtualbox", "VirtualBox"},
	{"innotek", "VirtualBox"},
	{"xen", "Xen"},
	{"amazon ec2", "Amazon EC2"},
	{"google compute engine", "Google Compute Engine"},
	{"parallels", "Parallels"},
	{"bochs", "Bochs"},
	{"openstack", "OpenStack"},
}

// detectHypervisor reports whether this is a VM and, when DMI says so, which
// hypervisor runs it.
func detectHypervisor(fsys fs.FS) (string, bool) {
	vendor := strings.ToLower(readValue(fsys, "sys/class/dmi/id/sys_vendor"))
	product := strings.ToLower(readValue(fsys, "sys/class/dmi/id/product_name"))
	dmi := vendor + "\n" + product
	switch {
	case strings.Contains(vendor, "amazon ec2") && strings.HasSuffix(product, ".metal"):
		return "", false // EC2 bare-metal instances keep the EC2 vendor string
	case strings.Contains(vendor, "microsoft corporation") && strings.Contains(product, "virtual machine"):
		return "Hyper-V", true
	}
	for _, h := range hypervisors {
		if strings.Contains(dmi, h.word) {
			return h.name, true
		}
	}
	if cpuFlag(fsys, "hypervisor") {
		return "", true
	}
	return "", false
}

// cpuFlag reports whether the first "flags" line of /proc/cpuinfo lists
// flag.
func cpuFlag(fsys fs.FS, flag string) bool {
	b, err := readLimited(fsys, "proc/cpuinfo", maxTable)
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(b)) {
		key, val, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(key) != "flags" {
			continue
		}
		for _, f := range strings.Fields(val) {
			if f == flag {
				return true
			}
		}
		return false
	}
	return false
}

// minStrong is how many components a code needs before it is hard to
// reproduce on another machine and tolerant of one change.
const minStrong = 3

func warnings(f *Fingerprint) []string {
	var w []string
	switch f.Environment {
	case Container:
		w = append(w, "running in a container: the machine code changes when the container is recreated "+
			"unless the container keeps its identity; mount /etc/machine-id read-only from the host "+
			"(-v /etc/machine-id:/etc/machine-id:ro) and use host networking, or better, run the site server on the host itself")
	case VM:
		name := "a virtual machine"
		if f.Hypervisor != "" {
			name += " (" + f.Hypervisor + ")"
		}
		w = append(w, "running in "+name+": cloning the VM image copies /etc/machine-id to the clone, "+
			"and moving the VM to another host or recreating it can change product-uuid and the MAC addresses")
	}
	if n := len(f.Components); n < minStrong {
		names := make([]string, n)
		for i, c := range f.Components {
			names[i] = c.Name
		}
		w = append(w, fmt.Sprintf("only %d of %d components found (%s): the machine code is weak, "+
			"easy to reproduce on another machine and changed by any single change", n, len(Order), strings.Join(names, ", ")))
	}
	return w
}
