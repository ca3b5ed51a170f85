package server

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/license"
)

// findNode finds the node of l this server is: on this host's machine
// AND signing with this server's key. It returns the node's index in
// l.Nodes(). A host on none of the license's machines is
// codes.Fingerprint naming the machines it lists; a host on a node's
// machine with another key is codes.ServerKeyMismatch naming the node's
// key and this server's.
func (s *Server) findNode(l *license.License, host *fingerprint.Fingerprint) (int, error) {
	if !l.BindsMachine() {
		// A license bound to a token alone runs on any machine: the
		// token's presence checks stand in for the machine's.
		if kid := l.ServerKeyIDs()[0]; kid != s.serverKid {
			return -1, codes.Errorf(codes.ServerKeyMismatch, "the license trusts server key %s; this server's key (%s) is %s",
				kid, filepath.Join(s.cfg.DataDir, ServerKeyFile), s.serverKid)
		}
		return 0, nil
	}
	if err := l.CheckMachine(host); err != nil {
		return -1, err
	}
	nodes := l.Nodes()
	var here []int // the nodes on this host's machine
	for i := range nodes {
		if fingerprint.Match(nodes[i].Machine, l.MatchMin, host) == nil {
			if nodes[i].KeyID() == s.serverKid {
				return i, nil
			}
			here = append(here, i)
		}
	}
	keyPath := filepath.Join(s.cfg.DataDir, ServerKeyFile)
	if !l.IsCluster() {
		return -1, codes.Errorf(codes.ServerKeyMismatch, "the license trusts server key %s; this server's key (%s) is %s",
			l.ServerKey.Kid, keyPath, s.serverKid)
	}
	var names, kids []string
	for _, i := range here {
		names, kids = append(names, nodeName(&nodes[i], i)), append(kids, nodes[i].KeyID())
	}
	msg := fmt.Sprintf("this host (machine %s) is node %s of the cluster license, which trusts server key %s there; this server's key (%s) is %s",
		host.Code, strings.Join(names, ", "), strings.Join(kids, ", "), keyPath, s.serverKid)
	for i := range nodes {
		if nodes[i].KeyID() == s.serverKid {
			msg += fmt.Sprintf(", the key of node %s on machine %s (a data directory copied from another node?)", nodeName(&nodes[i], i), nodes[i].Code)
		}
	}
	return -1, codes.Errorf(codes.ServerKeyMismatch, "%s", msg)
}

// nodeName names the node at index i for messages: its name, or its
// position.
func nodeName(n *license.Node, i int) string {
	if n.Name != "" {
		return n.Name
	}
	return fmt.Sprintf("#%d", i+1)
}

// Node returns the node of the license in force this server is: its
// index in License.Nodes() and the node itself. A single-server
// license's node is the machine this host matched.
func (s *Server) Node() (int, license.Node) {
	l := s.lic.Load()
	return l.node, l.license.Nodes()[l.node]
}
