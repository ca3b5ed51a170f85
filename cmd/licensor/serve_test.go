package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/pki"
	"github.com/licensor/licensor/server"
)

// TestServeSurvivesKill9 runs the real server process, grants seats,
// kills it with SIGKILL and checks that the restarted server holds exactly
// the same pool; it also runs the README's curl command against it.
func TestServeSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	addr := freeAddr(t)
	out, err := exec.Command(bin, "quickstart", "--dir", filepath.Join(dir, "qs"), "--listen", addr, "--setup-only", "--json").Output()
	if err != nil {
		t.Fatalf("quickstart: %v", err)
	}
	var q struct {
		ServerConfig    string `json:"server_config"`
		CA              string `json:"ca"`
		ClientCert      string `json:"client_cert"`
		ClientKey       string `json:"client_key"`
		AdminCert       string `json:"admin_cert"`
		AdminKey        string `json:"admin_key"`
		URL             string `json:"url"`
		VendorPublicKey string `json:"vendor_public_key"`
	}
	if err := json.Unmarshal(out, &q); err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := pki.ClientTLSConfig(q.CA, q.ClientCert, q.ClientKey, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}, Timeout: 5 * time.Second}
	authorize := func(id string) api.VerdictBody {
		t.Helper()
		body, _ := json.Marshal(api.InstanceRequest{Product: "demo", InstanceID: id})
		resp, err := client.Post(q.URL+api.PathAuthorize, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v api.VerdictBody
		json.NewDecoder(resp.Body).Decode(&v)
		if resp.StatusCode != 200 {
			t.Fatalf("authorize %s: HTTP %d, code %d", id, resp.StatusCode, v.Code)
		}
		return v
	}

	srv := startServer(t, bin, q.ServerConfig, q.URL, client)
	for i := range 3 {
		authorize(fmt.Sprint("k-", i))
	}
	if path, err := exec.LookPath("curl"); err == nil {
		out, err := exec.Command(path, "-sS", "--cacert", q.CA, "--cert", q.ClientCert, "--key", q.ClientKey,
			"-d", `{"product":"demo","instance_id":"curl-1"}`, q.URL+"/v1/authorize").CombinedOutput()
		if err != nil || !strings.Contains(string(out), `"code":0`) {
			t.Fatalf("curl: %v\n%s", err, out)
		}
	} else {
		t.Log("curl is not installed; the README's curl command was not tried")
	}
	srv.Process.Signal(syscall.SIGKILL)
	srv.Wait()
	client.CloseIdleConnections()

	startServer(t, bin, q.ServerConfig, q.URL, client)
	statusOut, err := exec.Command(bin, "status", "--server", q.URL, "--ca", q.CA, "--cert", q.AdminCert, "--key", q.AdminKey, "--json").Output()
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	var st struct {
		Products []server.ProductPool `json:"products"`
	}
	json.Unmarshal(statusOut, &st)
	held := map[string]bool{}
	for _, l := range st.Products[0].Instances {
		held[l.InstanceID] = true
	}
	for _, id := range []string{"k-0", "k-1", "k-2"} {
		if !held[id] {
			t.Errorf("after kill -9 the pool lost %s: %v", id, held)
		}
	}
	if v := authorize("k-1"); !v.Lease.Resumed {
		t.Errorf("after kill -9 k-1 did not resume its seat: %+v", v.Lease)
	}

	// The example protected program runs against the same server.
	example := exec.Command("go", "run", "../../examples/protected", "-n", "100000")
	example.Env = append(os.Environ(), "LICENSOR_SERVERS="+q.URL, "LICENSOR_ASYNC=1", "LICENSOR_CA="+q.CA,
		"LICENSOR_CERT="+q.ClientCert, "LICENSOR_KEY="+q.ClientKey, "LICENSOR_VENDOR_PUB="+q.VendorPublicKey,
		"LICENSOR_PRODUCT=demo", "LICENSOR_INSTANCE_ID=example-1")
	out, err = example.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "did 100000 units of work") {
		t.Fatalf("the example: %v\n%s", err, out)
	}
	// A check as the README shows it.
	out, err = exec.Command(bin, "check", "--server", q.URL, "--ca", q.CA, "--cert", q.ClientCert, "--key", q.ClientKey,
		"--vendor-pub", q.VendorPublicKey, "--product", "demo").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "code=0 ok") {
		t.Fatalf("licensor check: %v\n%s", err, out)
	}
}

// startServer starts 'licensor serve' and waits until it answers.
func startServer(t *testing.T, bin, config, url string, client *http.Client) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--config", config)
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get(url + api.PathReady)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return cmd
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not become ready: %v\n%s", err, logs.String())
		}
		time.Sleep(20 * time.Millisecond) // waiting for a process to start, not for time to pass
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func buildBinary(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "licensor")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
