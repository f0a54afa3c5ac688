package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"time"
)

// certLifetime is how long the generated certificate is valid: longer than any run.
const certLifetime = 30 * 24 * time.Hour

// TLSConfigs holds the two sides of -tls: the peers serve Server, the syncer dials with Client,
// which trusts exactly the generated certificate.
type TLSConfigs struct {
	Server *tls.Config
	Client *tls.Config
}

// NewTLSConfigs makes a self-signed ECDSA P-256 certificate for 127.0.0.1 and localhost, held
// in memory only, and the server and client configurations that use it. The client keeps a
// session cache, so a reconnect resumes the session as real TLS clients do.
func NewTLSConfigs() (TLSConfigs, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return TLSConfigs{}, fmt.Errorf("tls: generating the P-256 key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return TLSConfigs{}, fmt.Errorf("tls: drawing a serial number: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "syncnode peer"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(certLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // self-signed: it is its own root in the client's pool
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return TLSConfigs{}, fmt.Errorf("tls: creating the certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return TLSConfigs{}, fmt.Errorf("tls: parsing the created certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return TLSConfigs{
		Server: &tls.Config{
			Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}},
			MinVersion:   tls.VersionTLS12,
		},
		Client: &tls.Config{
			RootCAs:            pool,
			MinVersion:         tls.VersionTLS12,
			ClientSessionCache: tls.NewLRUClientSessionCache(0),
		},
	}, nil
}
