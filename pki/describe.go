package pki

import (
	"crypto/x509"
	"fmt"
	"time"
)

// CertInfo is what 'licensor pki show' tells about a certificate.
type CertInfo struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	Serial    string    `json:"serial"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	// DaysLeft counts whole days until NotAfter; negative once expired.
	DaysLeft int      `json:"days_left"`
	DNSNames []string `json:"dns_names"`
	IPs      []string `json:"ips"`
	URIs     []string `json:"uris"`
	// Role is empty for a certificate that carries no valid role.
	Role Role     `json:"role,omitempty"`
	IsCA bool     `json:"is_ca"`
	EKU  []string `json:"eku"`
}

// Describe summarizes cert as seen at now.
func Describe(cert *x509.Certificate, now time.Time) CertInfo {
	in := CertInfo{
		Subject:   cert.Subject.CommonName,
		Issuer:    cert.Issuer.CommonName,
		Serial:    fmt.Sprintf("%x", cert.SerialNumber),
		NotBefore: cert.NotBefore.UTC(),
		NotAfter:  cert.NotAfter.UTC(),
		DaysLeft:  daysLeft(cert.NotAfter, now),
		DNSNames:  append([]string{}, cert.DNSNames...),
		IPs:       []string{},
		URIs:      []string{},
		IsCA:      cert.IsCA,
		EKU:       []string{},
	}
	for _, ip := range cert.IPAddresses {
		in.IPs = append(in.IPs, ip.String())
	}
	for _, u := range cert.URIs {
		in.URIs = append(in.URIs, u.String())
	}
	if r, err := RoleOf(cert); err == nil {
		in.Role = r
	}
	for _, u := range cert.ExtKeyUsage {
		in.EKU = append(in.EKU, ekuName(u))
	}
	return in
}

func daysLeft(notAfter, now time.Time) int {
	d := notAfter.Sub(now)
	days := int(d / (24 * time.Hour))
	if d < 0 && d%(24*time.Hour) != 0 {
		days-- // round toward the past: an hour after expiry is day -1
	}
	return days
}

func ekuName(u x509.ExtKeyUsage) string {
	switch u {
	case x509.ExtKeyUsageAny:
		return "any"
	case x509.ExtKeyUsageServerAuth:
		return "serverAuth"
	case x509.ExtKeyUsageClientAuth:
		return "clientAuth"
	case x509.ExtKeyUsageCodeSigning:
		return "codeSigning"
	case x509.ExtKeyUsageEmailProtection:
		return "emailProtection"
	case x509.ExtKeyUsageTimeStamping:
		return "timeStamping"
	case x509.ExtKeyUsageOCSPSigning:
		return "OCSPSigning"
	}
	return fmt.Sprintf("eku-%d", int(u))
}
