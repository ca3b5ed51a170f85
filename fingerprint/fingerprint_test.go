package fingerprint

import (
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/licensor/licensor/codes"
)

func file(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

func symlink(target string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(target), Mode: fs.ModeSymlink | 0o777}
}

func hostname(name string) func() (string, error) {
	return func() (string, error) { return name, nil }
}

func noHostname() (string, error) { return "", errors.New("no host name") }

const (
	bareMachineID = "4c1f0e8a9d2b4e6f8a7c3b5d1e9f2a40"
	bareUUID      = "3e6c1d0a-5b7f-4c2e-9a81-0f2d3c4b5a69"
)

// bareMetal is a server with all five components: two onboard NICs, a USB
// tether with a locally administered MAC, docker's bridge and a veth, and
// its root on an NVMe partition that udev knows.
func bareMetal() fstest.MapFS {
	return fstest.MapFS{
		"etc/machine-id":                        file(bareMachineID + "\n"),
		"sys/class/dmi/id/product_uuid":         file("4C4C4544-0042-3510-8051-B4C04F4E4B32\n"),
		"sys/class/dmi/id/sys_vendor":           file("Dell Inc.\n"),
		"sys/class/dmi/id/product_name":         file("PowerEdge R640\n"),
		"sys/class/net/lo/address":              file("00:00:00:00:00:00\n"),
		"sys/class/net/eno2/address":            file("B0:26:28:AA:BB:02\n"),
		"sys/class/net/eno2/device/vendor":      file("0x14e4\n"),
		"sys/class/net/eno1/address":            file("b0:26:28:aa:bb:01\n"),
		"sys/class/net/eno1/device/vendor":      file("0x14e4\n"),
		"sys/class/net/enx9a1234/address":       file("9a:12:34:56:78:9a\n"),
		"sys/class/net/enx9a1234/device/uevent": file("DRIVER=rndis_host\n"),
		"sys/class/net/eno3/address":            file("b0:26:28:aa:bb:03\n"),
		"sys/class/net/eno3/device/vendor":      file("0x14e4\n"),
		"sys/class/net/eno3/addr_assign_type":   file("1\n"),
		"sys/class/net/docker0/address":         file("02:42:ac:11:00:01\n"),
		"sys/class/net/veth1a2b3c/address":      file("ae:0f:11:22:33:44\n"),
		"proc/self/mountinfo": file("22 27 0:21 / /proc rw,relatime - proc proc rw\n" +
			"27 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw,errors=remount-ro\n" +
			"29 27 259:1 / /boot/efi rw,relatime shared:2 - vfat /dev/nvme0n1p1 rw\n"),
		"run/udev/data/b259:2":                  file("S:disk/by-uuid/" + bareUUID + "\nE:ID_FS_TYPE=ext4\nE:ID_FS_UUID=" + bareUUID + "\n"),
		"sys/dev/block/259:2/uevent":            file("MAJOR=259\nMINOR=2\nDEVNAME=nvme0n1p2\nDEVTYPE=partition\n"),
		"sys/block/nvme0n1/nvme0n1p2/partition": file("2\n"),
		"sys/block/nvme0n1/device/serial":       file("S4EWNX0R123456\n"),
		"proc/cpuinfo":                          file("processor\t: 0\nflags\t\t: fpu vme de pse tsc msr\n"),
		"proc/1/cgroup":                         file("0::/init.scope\n"),
	}
}

// kvmGuest is a QEMU/KVM guest: virtio NIC and disk, no udev database, the
// root UUID only in /dev/disk/by-uuid.
func kvmGuest() fstest.MapFS {
	return fstest.MapFS{
		"etc/machine-id":                        file("9b7e1f2a3c4d5e6f708192a3b4c5d6e7\n"),
		"sys/class/dmi/id/product_uuid":         file("8f14e45f-ceea-467f-a8f5-1a2b3c4d5e6f\n"),
		"sys/class/dmi/id/sys_vendor":           file("QEMU\n"),
		"sys/class/dmi/id/product_name":         file("Standard PC (Q35 + ICH9, 2009)\n"),
		"sys/class/net/lo/address":              file("00:00:00:00:00:00\n"),
		"sys/class/net/enp1s0/address":          file("52:54:00:12:34:56\n"),
		"sys/class/net/enp1s0/device/vendor":    file("0x1af4\n"),
		"sys/class/net/enp1s0/addr_assign_type": file("0\n"),
		"proc/self/mountinfo":                   file("24 1 252:1 / / rw,relatime - ext4 /dev/vda1 rw\n"),
		"sys/dev/block/252:1":                   symlink("../../devices/pci0000:00/0000:00:04.0/virtio2/block/vda/vda1"),
		"dev/disk/by-uuid/1111-2222":            symlink("../../vda15"),
		"dev/disk/by-uuid/5d3b9c1e-vda1-uuid":   symlink("../../vda1"),
		"sys/block/vda/vda1/partition":          file("1\n"),
		"proc/cpuinfo":                          file("processor\t: 0\nflags\t\t: fpu vme de pse hypervisor lahf_lm\n\nprocessor\t: 1\nflags\t\t: fpu\n"),
		"proc/1/cgroup":                         file("0::/init.scope\n"),
	}
}

// dockerContainer is a default Docker container: no DMI, an empty
// machine-id from the image, only a veth, an overlay root.
func dockerContainer() fstest.MapFS {
	return fstest.MapFS{
		".dockerenv":                 file(""),
		"etc/machine-id":             file(""),
		"sys/class/net/lo/address":   file("00:00:00:00:00:00\n"),
		"sys/class/net/eth0/address": file("02:42:ac:11:00:02\n"),
		"proc/self/mountinfo":        file("612 511 0:53 / / rw,relatime master:283 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/X\n"),
		"proc/cpuinfo":               file("processor\t: 0\nflags\t\t: fpu vme\n"),
		"proc/1/cgroup":              file("12:devices:/docker/4f2a9c\n0::/docker/4f2a9c\n"),
	}
}

func without(m fstest.MapFS, names ...string) fstest.MapFS {
	m = maps.Clone(m)
	for _, n := range names {
		delete(m, n)
	}
	return m
}

func with(m fstest.MapFS, name, data string) fstest.MapFS {
	m = maps.Clone(m)
	m[name] = file(data)
	return m
}

func linked(m fstest.MapFS, name, target string) fstest.MapFS {
	m = maps.Clone(m)
	m[name] = symlink(target)
	return m
}

func collect(t *testing.T, fsys fs.FS, host string) *Fingerprint {
	t.Helper()
	f, err := Collector{FS: fsys, Hostname: hostname(host)}.Collect()
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	return f
}

func names(f *Fingerprint) []string {
	var out []string
	for _, c := range f.Components {
		out = append(out, c.Name)
	}
	return out
}

func TestCollect(t *testing.T) {
	tests := []struct {
		name        string
		fsys        fstest.MapFS
		host        string
		components  []string
		sources     map[string]string
		raw         map[string]string // expected raw values, checked through HashComponent
		environment string
		hypervisor  string
		warnings    []string // substrings, one per warning
	}{
		{
			name:       "bare-metal",
			fsys:       bareMetal(),
			host:       " Build-01.Example.COM\n",
			components: Order,
			sources: map[string]string{
				MachineID:   "/etc/machine-id",
				ProductUUID: "/sys/class/dmi/id/product_uuid",
				MAC:         "/sys/class/net/*/address (eno1, eno2)",
				RootDisk:    "/run/udev/data/b259:2",
				Hostname:    "hostname",
			},
			raw: map[string]string{
				MachineID:   bareMachineID,
				ProductUUID: "4c4c4544-0042-3510-8051-b4c04f4e4b32",
				MAC:         "b0:26:28:aa:bb:01,b0:26:28:aa:bb:02",
				RootDisk:    bareUUID,
				Hostname:    "build-01.example.com",
			},
			environment: BareMetal,
		},
		{
			// libvirt's 52:54:00 MACs are locally administered, but the
			// virtio NIC reports it as its own: it counts.
			name:        "kvm-guest",
			fsys:        kvmGuest(),
			host:        "vm1",
			components:  Order,
			sources:     map[string]string{RootDisk: "/dev/disk/by-uuid/5d3b9c1e-vda1-uuid"},
			raw:         map[string]string{RootDisk: "5d3b9c1e-vda1-uuid", MAC: "52:54:00:12:34:56"},
			environment: VM,
			hypervisor:  "QEMU",
			warnings:    []string{"cloning the VM image copies /etc/machine-id"},
		},
		{
			name:        "docker-container",
			fsys:        dockerContainer(),
			host:        "4f2a9c0b1d2e",
			components:  []string{Hostname},
			environment: Container,
			warnings:    []string{"mount /etc/machine-id read-only from the host", "only 1 of 5 components found (hostname)"},
		},
		{
			name:        "product-uuid-unreadable",
			fsys:        without(bareMetal(), "sys/class/dmi/id/product_uuid"),
			host:        "build-01",
			components:  []string{MachineID, MAC, RootDisk, Hostname},
			environment: BareMetal,
		},
		{
			name:        "machine-id-uninitialized-falls-back-to-dbus",
			fsys:        with(with(bareMetal(), "etc/machine-id", "uninitialized\n"), "var/lib/dbus/machine-id", "aaaabbbbccccddddeeeeffff00001111\n"),
			host:        "build-01",
			components:  Order,
			sources:     map[string]string{MachineID: "/var/lib/dbus/machine-id"},
			raw:         map[string]string{MachineID: "aaaabbbbccccddddeeeeffff00001111"},
			environment: BareMetal,
		},
		{
			name:        "placeholder-product-uuid",
			fsys:        with(bareMetal(), "sys/class/dmi/id/product_uuid", "00000000-0000-0000-0000-000000000000\n"),
			host:        "build-01",
			components:  []string{MachineID, MAC, RootDisk, Hostname},
			environment: BareMetal,
		},
		{
			name:        "only-two-components",
			fsys:        fstest.MapFS{"etc/machine-id": file(bareMachineID), "proc/1/environ": file("HOME=/\x00container=podman\x00")},
			host:        "box",
			components:  []string{MachineID, Hostname},
			environment: Container,
			warnings:    []string{"run the site server on the host itself", "only 2 of 5 components found (machine-id, hostname)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := collect(t, tt.fsys, tt.host)
			if got := names(f); !slices.Equal(got, tt.components) {
				t.Errorf("components = %v, want %v", got, tt.components)
			}
			for _, c := range f.Components {
				if want, ok := tt.sources[c.Name]; ok && c.Source != want {
					t.Errorf("%s source = %q, want %q", c.Name, c.Source, want)
				}
				if raw, ok := tt.raw[c.Name]; ok && c.Hash != HashComponent(c.Name, raw) {
					t.Errorf("%s hash = %s, want the hash of %q", c.Name, c.Hash, raw)
				}
				if !ValidHash(c.Hash) {
					t.Errorf("%s hash %q is not valid", c.Name, c.Hash)
				}
			}
			if !ValidCode(f.Code) || f.Code != CodeOf(f.Hashes()) {
				t.Errorf("code = %q, want CodeOf(hashes) = %q", f.Code, CodeOf(f.Hashes()))
			}
			if f.Environment != tt.environment || f.Hypervisor != tt.hypervisor {
				t.Errorf("environment = %q, %q; want %q, %q", f.Environment, f.Hypervisor, tt.environment, tt.hypervisor)
			}
			if len(f.Warnings) != len(tt.warnings) {
				t.Fatalf("warnings = %q, want %d", f.Warnings, len(tt.warnings))
			}
			for i, w := range tt.warnings {
				if !strings.Contains(f.Warnings[i], w) {
					t.Errorf("warning %d = %q, want it to contain %q", i, f.Warnings[i], w)
				}
			}
		})
	}
}

func TestCollectNothingFound(t *testing.T) {
	_, err := Collector{FS: fstest.MapFS{}, Hostname: noHostname}.Collect()
	if codes.Of(err) != codes.Fingerprint {
		t.Fatalf("Collect on an empty tree = %v, want a %v error", err, codes.Fingerprint)
	}
}

func TestCollectHostnameFromFS(t *testing.T) {
	f, err := Collector{FS: fstest.MapFS{"proc/sys/kernel/hostname": file("Node7\n")}}.Collect()
	if err != nil {
		t.Fatal(err)
	}
	want := []Component{{Name: Hostname, Hash: HashComponent(Hostname, "node7"), Source: "/proc/sys/kernel/hostname"}}
	if !slices.Equal(f.Components, want) {
		t.Errorf("components = %v, want %v", f.Components, want)
	}
}

func TestCodeStable(t *testing.T) {
	a := collect(t, bareMetal(), "build-01")
	b := collect(t, bareMetal(), "BUILD-01 ")
	if a.Code != b.Code {
		t.Errorf("two collections of the same host: %s != %s", a.Code, b.Code)
	}
}

func TestCodeChangesWithEachComponent(t *testing.T) {
	base := collect(t, bareMetal(), "build-01")
	tests := []struct {
		name      string
		fsys      fstest.MapFS
		host      string
		component string
	}{
		{"machine-id", with(bareMetal(), "etc/machine-id", "00000000000000000000000000000001"), "build-01", MachineID},
		{"product-uuid", with(bareMetal(), "sys/class/dmi/id/product_uuid", "4C4C4544-0042-3510-8051-B4C04F4E4B33"), "build-01", ProductUUID},
		{"mac", with(bareMetal(), "sys/class/net/eno1/address", "b0:26:28:aa:bb:03"), "build-01", MAC},
		{"root-disk", with(bareMetal(), "run/udev/data/b259:2", "E:ID_FS_UUID=other"), "build-01", RootDisk},
		{"hostname", bareMetal(), "build-02", Hostname},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := collect(t, tt.fsys, tt.host)
			if f.Code == base.Code {
				t.Errorf("code did not change")
			}
			for name, h := range f.Hashes() {
				if changed := h != base.Hashes()[name]; changed != (name == tt.component) {
					t.Errorf("%s changed = %v", name, changed)
				}
			}
		})
	}
}

func TestRootDisk(t *testing.T) {
	tests := []struct {
		name   string
		fsys   fstest.MapFS
		raw    string
		source string
	}{
		{
			name:   "udev-database",
			fsys:   bareMetal(),
			raw:    bareUUID,
			source: "/run/udev/data/b259:2",
		},
		{
			name:   "by-uuid-link",
			fsys:   linked(without(bareMetal(), "run/udev/data/b259:2"), "dev/disk/by-uuid/"+bareUUID, "../../nvme0n1p2"),
			raw:    bareUUID,
			source: "/dev/disk/by-uuid/" + bareUUID,
		},
		{
			name:   "partition-serial",
			fsys:   without(bareMetal(), "run/udev/data/b259:2"),
			raw:    "S4EWNX0R123456",
			source: "/sys/block/nvme0n1/device/serial",
		},
		{
			name: "whole-disk-wwid",
			fsys: fstest.MapFS{
				"proc/self/mountinfo":       file("27 1 8:0 / / rw - xfs /dev/sda rw\n"),
				"sys/dev/block/8:0":         symlink("../../devices/pci0000:00/host0/target0:0:0/0:0:0:0/block/sda"),
				"sys/block/sda/device/wwid": file("naa.5000c500a1b2c3d4\n"),
			},
			raw:    "naa.5000c500a1b2c3d4",
			source: "/sys/block/sda/device/wwid",
		},
		{
			name: "btrfs-anonymous-device",
			fsys: fstest.MapFS{
				"proc/self/mountinfo":      file("27 1 0:32 /@ / rw shared:1 - btrfs /dev/sda2 rw,subvol=/@\n"),
				"sys/class/block/sda2/dev": file("8:2\n"),
				"run/udev/data/b8:2":       file("E:ID_FS_UUID=b7f0c1d2-btrfs\n"),
			},
			raw:    "b7f0c1d2-btrfs",
			source: "/run/udev/data/b8:2",
		},
		{
			name: "device-mapper-link",
			fsys: fstest.MapFS{
				"proc/self/mountinfo":        file("27 1 0:0 / / rw - ext4 /dev/mapper/vg-root rw\n"),
				"dev/mapper/vg-root":         symlink("../dm-0"),
				"dev/disk/by-uuid/dm-uuid-1": symlink("../../dm-0"),
			},
			raw:    "dm-uuid-1",
			source: "/dev/disk/by-uuid/dm-uuid-1",
		},
		{
			name: "last-root-mount-wins",
			fsys: fstest.MapFS{
				"proc/self/mountinfo": file("1 0 8:1 / / rw - ext4 /dev/sda1 rw\n30 1 8:17 / / rw - ext4 /dev/sdb1 rw\n"),
				"run/udev/data/b8:1":  file("E:ID_FS_UUID=first\n"),
				"run/udev/data/b8:17": file("E:ID_FS_UUID=second\n"),
			},
			raw:    "second",
			source: "/run/udev/data/b8:17",
		},
		{name: "overlay", fsys: dockerContainer()},
		{name: "no-mountinfo", fsys: fstest.MapFS{}},
		{name: "no-identity", fsys: fstest.MapFS{"proc/self/mountinfo": file("27 1 8:0 / / rw - xfs /dev/sda rw\n")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, source, ok := readRootDisk(tt.fsys)
			if ok != (tt.raw != "") || raw != tt.raw || source != tt.source {
				t.Errorf("readRootDisk = %q, %q, %v; want %q, %q", raw, source, ok, tt.raw, tt.source)
			}
		})
	}
}

func TestEnvironment(t *testing.T) {
	tests := []struct {
		name       string
		fsys       fstest.MapFS
		env, hyper string
	}{
		{"bare-metal", bareMetal(), BareMetal, ""},
		{"dockerenv", fstest.MapFS{".dockerenv": file("")}, Container, ""},
		{"podman-containerenv", fstest.MapFS{"run/.containerenv": file("engine=\"podman\"\n")}, Container, ""},
		{"kubepods-cgroup", fstest.MapFS{"proc/1/cgroup": file("0::/kubepods/besteffort/pod1/abc\n")}, Container, ""},
		{"lxc-environ", fstest.MapFS{"proc/1/environ": file("PATH=/bin\x00container=lxc\x00")}, Container, ""},
		{"environ-value-is-not-a-key", fstest.MapFS{"proc/1/environ": file("X=container=lxc\x00")}, BareMetal, ""},
		{"container-in-vm", with(kvmGuest(), ".dockerenv", ""), Container, ""},
		{"qemu", kvmGuest(), VM, "QEMU"},
		{"kvm-product", fstest.MapFS{"sys/class/dmi/id/sys_vendor": file("Red Hat\n"), "sys/class/dmi/id/product_name": file("KVM\n")}, VM, "KVM"},
		{"vmware", fstest.MapFS{"sys/class/dmi/id/sys_vendor": file("VMware, Inc.\n")}, VM, "VMware"},
		{"virtualbox", fstest.MapFS{"sys/class/dmi/id/sys_vendor": file("innotek GmbH\n")}, VM, "VirtualBox"},
		{"hyper-v", fstest.MapFS{"sys/class/dmi/id/sys_vendor": file("Microsoft Corporation\n"), "sys/class/dmi/id/product_name": file("Virtual Machine\n")}, VM, "Hyper-V"},
		{"surface-is-not-a-vm", fstest.MapFS{"sys/class/dmi/id/sys_vendor": file("Microsoft Corporation\n"), "sys/class/dmi/id/product_name": file("Surface Pro 7\n")}, BareMetal, ""},
		{"ec2", fstest.MapFS{"sys/class/dmi/id/sys_vendor": file("Amazon EC2\n"), "sys/class/dmi/id/product_name": file("m5.large\n")}, VM, "Amazon EC2"},
		{"ec2-metal", fstest.MapFS{"sys/class/dmi/id/sys_vendor": file("Amazon EC2\n"), "sys/class/dmi/id/product_name": file("i3.metal\n")}, BareMetal, ""},
		{"gce", fstest.MapFS{"sys/class/dmi/id/product_name": file("Google Compute Engine\n")}, VM, "Google Compute Engine"},
		{"xen", fstest.MapFS{"sys/class/dmi/id/sys_vendor": file("Xen\n")}, VM, "Xen"},
		{"cpu-flag-only", fstest.MapFS{"proc/cpuinfo": file("flags\t: fpu hypervisor\n")}, VM, ""},
		{"empty", fstest.MapFS{}, BareMetal, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, hyper := detectEnvironment(tt.fsys)
			if env != tt.env || hyper != tt.hyper {
				t.Errorf("detectEnvironment = %q, %q; want %q, %q", env, hyper, tt.env, tt.hyper)
			}
		})
	}
}

func TestParseMAC(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"B0:26:28:AA:BB:01", "b0:26:28:aa:bb:01", true},
		{"00:00:00:00:00:00", "", false},
		{"02:42:ac:11:00:02", "02:42:ac:11:00:02", true}, // locally administered: stableMAC decides
		{"not a mac", "", false},
		{"", "", false},
		{"80:00:02:08:fe:80:00:00:00:00:00:00:00:02:c9:03:00:0a:bc:de", "80:00:02:08:fe:80:00:00:00:00:00:00:00:02:c9:03:00:0a:bc:de", true}, // InfiniBand
	}
	for _, tt := range tests {
		got, ok := parseMAC(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseMAC(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestHashComponent(t *testing.T) {
	h := HashComponent(MachineID, bareMachineID)
	if !ValidHash(h) {
		t.Fatalf("HashComponent = %q, not a valid hash", h)
	}
	if HashComponent(MachineID, "  "+strings.ToUpper(bareMachineID)+"\n") != h {
		t.Error("normalization: upper case and spaces change the hash")
	}
	if HashComponent(Hostname, bareMachineID) == h {
		t.Error("the same raw value hashes alike under two names")
	}
}

func TestCodeOfIgnoresUnknownNames(t *testing.T) {
	hashes := map[string]string{MachineID: HashComponent(MachineID, "x")}
	extra := maps.Clone(hashes)
	extra["future-component"] = HashComponent("future-component", "y")
	if CodeOf(hashes) != CodeOf(extra) {
		t.Error("an unknown component name changed the code")
	}
	if CodeOf(hashes) == CodeOf(nil) {
		t.Error("CodeOf ignores known components")
	}
}

func TestValid(t *testing.T) {
	for s, want := range map[string]bool{
		"0123456789abcdef0123456789abcdef":  true,
		"0123456789ABCDEF0123456789abcdef":  false,
		"0123456789abcdef0123456789abcde":   false,
		"0123456789abcdef0123456789abcdef0": false,
		"0123456789abcdeg0123456789abcdef":  false,
		"":                                  false,
	} {
		if ValidCode(s) != want || ValidHash(s) != want {
			t.Errorf("ValidCode/ValidHash(%q) = %v/%v, want %v", s, ValidCode(s), ValidHash(s), want)
		}
	}
}

func TestJSON(t *testing.T) {
	b, err := json.Marshal(collect(t, kvmGuest(), "vm1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"machine_code":`, `"components":[{"name":"machine-id","hash":`, `"environment":"vm"`, `"hypervisor":"QEMU"`, `"warnings":[`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON %s lacks %s", b, key)
		}
	}
}

// TestCollectThisHost runs the real collection; values differ per machine,
// so it checks only their shape.
func TestCollectThisHost(t *testing.T) {
	f, err := Collect()
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	if !ValidCode(f.Code) {
		t.Errorf("code %q is not valid", f.Code)
	}
	if len(f.Components) == 0 {
		t.Error("no components")
	}
	for _, c := range f.Components {
		if !ValidHash(c.Hash) || c.Source == "" {
			t.Errorf("component %+v", c)
		}
	}
	if !slices.Contains([]string{BareMetal, VM, Container}, f.Environment) {
		t.Errorf("environment %q", f.Environment)
	}
	b, _ := json.MarshalIndent(f, "", "  ")
	t.Logf("this host: %s", b)
}

func FuzzCollect(f *testing.F) {
	bm := bareMetal()
	f.Add(bm["proc/self/mountinfo"].Data, bm["proc/1/cgroup"].Data, bm["sys/class/net/eno1/address"].Data, bm["sys/dev/block/259:2/uevent"].Data)
	f.Add([]byte("1 0 0:0 / / - x /dev/../../etc\n"), []byte("docker"), []byte("ff:ff"), []byte("DEVNAME=../..\n"))
	f.Add([]byte("- - - - / - - -\n"), []byte{0, 1, 2}, []byte("02:00:00:00:00:00"), []byte("DEVNAME=/\n"))
	f.Fuzz(func(t *testing.T, mountinfo, cgroup, address, uevent []byte) {
		fsys := fstest.MapFS{
			"proc/self/mountinfo":              {Data: mountinfo},
			"proc/1/cgroup":                    {Data: cgroup},
			"proc/1/environ":                   {Data: cgroup},
			"proc/cpuinfo":                     {Data: cgroup},
			"sys/class/net/eth0/address":       {Data: address},
			"sys/class/net/eth0/device/vendor": file("0x8086"),
			"sys/dev/block/259:2/uevent":       {Data: uevent},
			"sys/dev/block/8:0/uevent":         {Data: uevent},
			"run/udev/data/b259:2":             {Data: uevent},
			"sys/block/sda/device/serial":      {Data: address},
			"dev/disk/by-uuid/u":               symlink(string(uevent)),
		}
		fp, err := Collector{FS: fsys, Hostname: noHostname}.Collect()
		if err != nil {
			if codes.Of(err) != codes.Fingerprint {
				t.Fatalf("Collect error %v has code %v", err, codes.Of(err))
			}
			return
		}
		if !ValidCode(fp.Code) || len(fp.Components) == 0 {
			t.Fatalf("Collect = %+v", fp)
		}
	})
}
