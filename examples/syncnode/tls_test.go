package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// startTLSPeer starts a peer of a 4-block chain serving TLS with server.
func startTLSPeer(t *testing.T, server *tls.Config) *Peer {
	t.Helper()
	p, err := StartPeer(0, NewChain(3, 2, 4), 0, server)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// TestTLSPeerConnection dials a TLS peer as the syncer does: TLS 1.3 with the generated
// certificate verified, the protocol unchanged above it, and a redial resumes the session.
func TestTLSPeerConnection(t *testing.T) {
	confs, err := NewTLSConfigs()
	if err != nil {
		t.Fatal(err)
	}
	p := startTLSPeer(t, confs.Server)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pc, err := dialPeer(ctx, 0, p.Addr(), confs.Client)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.close()

	for i, wantResumed := range []bool{false, true} {
		if i > 0 {
			if err := pc.redial(ctx); err != nil {
				t.Fatal(err)
			}
		}
		tc, ok := pc.conn.(*tls.Conn)
		if !ok {
			t.Fatalf("conn %d is a %T, not a *tls.Conn", i, pc.conn)
		}
		st := tc.ConnectionState()
		if st.Version != tls.VersionTLS13 {
			t.Errorf("conn %d: %s, want TLS 1.3", i, tls.VersionName(st.Version))
		}
		if !st.HandshakeComplete {
			t.Errorf("conn %d: handshake not complete", i)
		}
		if len(st.PeerCertificates) != 1 || !st.PeerCertificates[0].Equal(confs.Server.Certificates[0].Leaf) {
			t.Errorf("conn %d: the peer presented %d certificates, not the generated one", i, len(st.PeerCertificates))
		}
		if st.DidResume != wantResumed {
			t.Errorf("conn %d: resumed %v, want %v", i, st.DidResume, wantResumed)
		}
		if !wantResumed && len(st.VerifiedChains) != 1 {
			t.Errorf("conn %d: %d verified chains, want the generated certificate's", i, len(st.VerifiedChains))
		}
		// The first reply also delivers the session ticket that the redial resumes with.
		payload, err := pc.request(MsgGetHeader, 2, MsgHeader)
		if err != nil {
			t.Fatal(err)
		}
		if h, err := UnmarshalHeader(payload); err != nil || h.Height != 2 {
			t.Errorf("conn %d: header of height %d (%v), want 2", i, h.Height, err)
		}
	}
}

// TestTLSRefusesOtherCertificate checks that the syncer does not talk to a peer whose
// certificate is not the one it generated.
func TestTLSRefusesOtherCertificate(t *testing.T) {
	mine, err := NewTLSConfigs()
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewTLSConfigs()
	if err != nil {
		t.Fatal(err)
	}
	p := startTLSPeer(t, other.Server)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pc, err := dialPeer(ctx, 0, p.Addr(), mine.Client)
	if err == nil {
		pc.close()
		t.Fatal("the syncer connected to a peer with another certificate")
	}
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("dial error %q (%T) does not say the certificate's authority is unknown", err, errors.Unwrap(err))
	}
}

func TestNodeTLS(t *testing.T) {
	const reconnect = 5
	n := runNode(t, "-peers", "3", "-tls", "-reconnect-every", "5", "-queue", "4")
	for i, l := range n.stdoutLines() {
		if strings.HasPrefix(l, "peer ") && !strings.Contains(l, "(tls)") {
			t.Errorf("startup line %d %q does not say tls", i, l)
		}
	}

	// A peer answers a plain-TCP request with nothing: it wants a TLS handshake first.
	c, err := net.DialTimeout("tcp", n.peers[0], 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(AppendFrame(nil, MsgGetHeader, AppendHeight(nil, 1))); err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
		t.Errorf("a plain request to a TLS peer got %q (%v), want the connection closed", b, err)
	}

	_, tr := n.collect(t)
	checkTrace(t, tr)
	if tr.regions["connect"] == 0 {
		t.Errorf("no connect region in a second of syncing with -reconnect-every %d (regions: %v)", reconnect, tr.regions)
	}
	monoHi := n.interrupt(t)
	recs := checkTruth(t, n, monoHi)
	if len(recs) < 3*reconnect+1 {
		t.Fatalf("only %d blocks imported: too few to redial", len(recs))
	}
	checkFetchConns(t, recs, reconnect)
	if !strings.Contains(n.stderrText(), "first record does not look like a TLS handshake") {
		t.Errorf("the peer did not log the plain request as a failed TLS handshake; stderr:\n%s", n.stderrText())
	}
}
