// Package codes is licensor's one table of failure codes.
//
// Every failure licensor reports has a stable number, a short name, a
// meaning, a fix and the HTTP status a server answers with. The SDK returns
// these codes, the server writes them in JSON bodies and log lines,
// 'licensor explain' prints them and docs/errors.md is generated from the
// table below. The table is append-only: a number, once published, keeps its
// name and meaning forever.
//
// The numbering follows what operators of private-deployment authorization
// services already know: codes below 100 are transport failures numbered as
// libcurl numbers them, 5xx are license verdicts, 6xx are bad input, 7xx
// are the server's own failures.
//
// The package imports only the standard library, so the SDK can use it.
package codes

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// Code is a licensor failure code.
type Code int

// The codes. Append new ones at the end of their range; never renumber.
const (
	OK      Code = 0
	Unknown Code = -1

	// Transport failures, numbered as libcurl numbers them.
	Protocol     Code = 1
	Resolve      Code = 6
	Connect      Code = 7
	WeirdReply   Code = 8
	Timeout      Code = 28
	TLSHandshake Code = 35
	ClientCert   Code = 58
	ServerCert   Code = 60
	CAFile       Code = 77

	// License verdicts.
	InstanceLimit      Code = 501
	LegacyUnauthorized Code = 502
	Expired            Code = 503
	QPSNeedsAsync      Code = 504
	QPSExceeded        Code = 505
	AsyncDead          Code = 506
	Stale              Code = 507
	ProductUnlicensed  Code = 508
	Fingerprint        Code = 509
	NotYetValid        Code = 510
	LicenseTampered    Code = 511
	WrongVendorKey     Code = 512
	ClockRollback      Code = 513
	LeaseUnknown       Code = 514
	RoleForbidden      Code = 515
	ServerKeyMismatch  Code = 516
	VerdictForged      Code = 517
	VerdictReplayed    Code = 518
	ClockSkew          Code = 519
	KeyFileMissing     Code = 520
	KeyFileExpired     Code = 521
	KeyFileNotYetValid Code = 522
	KeyFileTampered    Code = 523
	KeyFileMachine     Code = 524
	NotWhitelisted     Code = 525
	GrantExpired       Code = 526
	KeyFileHostRefused Code = 527
	LeaseNotOwned      Code = 528
	KeyFileRevoked     Code = 529
	HWTokenMissing     Code = 530
	HWTokenWrong       Code = 531

	// Bad input: files, requests and arguments.
	LicenseMalformed Code = 601
	RequestMalformed Code = 602
	KeyMalformed     Code = 603
	InvalidArgument  Code = 604
	FileMissing      Code = 605
	FileExists       Code = 606
	RequestTooLarge  Code = 607
	ConfigInvalid    Code = 608
	FileUnwritable   Code = 609
	CertMalformed    Code = 610

	// Server side.
	StoreUnavailable Code = 701
	AuditTampered    Code = 702
	ListenFailed     Code = 703
	StoreRefused     Code = 704
	StoreTooNew      Code = 705
	NodeNameTaken    Code = 706

	// Tokens (JWTs) as 'licensor doctor token' explains them.
	TokenMalformed     Code = 801
	TokenAlgorithm     Code = 802
	TokenKeyUnknown    Code = 803
	TokenBadSignature  Code = 804
	TokenExpired       Code = 805
	TokenNotYetValid   Code = 806
	TokenWrongIssuer   Code = 807
	TokenWrongAudience Code = 808

	// Hardware tokens (PKCS#11) as the token package reports them.
	HWModule       Code = 901
	HWNoToken      Code = 902
	HWPINIncorrect Code = 903
	HWPINLocked    Code = 904
	HWKeyMissing   Code = 905
	HWTimeout      Code = 906
	HWUnsupported  Code = 907
	HWDevice       Code = 908
	HWProofFailed  Code = 909

	// Usage reports.
	ReportMalformed       Code = 1001
	ReportSignature       Code = 1002
	ReportWrongServer     Code = 1003
	ReportPeriodUncovered Code = 1004
	ReportChainGap        Code = 1005

	// The operator console.
	ConsoleTokenRefused    Code = 1101
	ConsoleSessionRequired Code = 1102
	ConsoleChangeRefused   Code = 1103

	AllServersDown Code = 2012
)

// Info is one row of the table.
type Info struct {
	Code    Code   `json:"code"`
	Name    string `json:"name"`
	Meaning string `json:"meaning"`
	Fix     string `json:"fix"`
	// HTTPStatus is what a server answers with when it reports this code;
	// 0 for codes that only a client produces (transport failures, the
	// async refresher's own state).
	HTTPStatus int `json:"http_status"`
	// NeverEmitted marks codes kept only so old logs can be explained.
	NeverEmitted bool `json:"never_emitted,omitempty"`
}

var table = []Info{
	{OK, "ok", "Authorized.", "Nothing to fix.", http.StatusOK, false},
	{Unknown, "unknown", "An unexpected failure; the message says what failed, and the log line (or the local error) its cause.", "Read the message and the server log; run 'licensor doctor'. If the cause is unclear, report it with the log line.", http.StatusInternalServerError, false},

	{Protocol, "protocol", "The server does not speak HTTPS: it answered in plain HTTP, or the port belongs to another service.", "Check the URL's scheme and port: the site server listens with HTTPS on 8443 by default.", 0, false},
	{Resolve, "resolve", "The server's host name does not resolve.", "Check the host name in the server URL and this host's DNS or /etc/hosts; an IP address avoids DNS altogether.", 0, false},
	{Connect, "connect", "Cannot connect to the server: it is down, the port is closed, or a firewall drops the connection.", "Start the site server ('licensor serve'), check that it listens on the port in the URL, and open the port in the firewall.", 0, false},
	{WeirdReply, "weird_reply", "The server's answer breaks licensor's protocol: a failure status whose body claims success, a code licensor does not know, or a code that does not match the HTTP status. An impostor, a proxy rewriting answers, or a server of another version.", "Check that the URL reaches the site server itself and not a proxy or another service ('licensor doctor --server URL'); the message carries the raw HTTP status and body code.", 0, false},
	{Timeout, "timeout", "The connection (1 s by default) or the answer (3 s by default) timed out.", "Check the network path to the server and the server's load; raise the timeouts only if the path is known to be slow.", 0, false},
	{TLSHandshake, "tls_handshake", "The TLS handshake failed; most often the server rejected our client certificate (bad_certificate).", "Check that the client certificate was issued by the site CA the server trusts ('licensor doctor' names both issuers).", 0, false},
	{ClientCert, "client_cert", "Our client certificate is missing, unreadable, expired, or does not match its private key.", "Issue a fresh client certificate with 'licensor pki client' and point the client at the certificate and its own key.", 0, false},
	{ServerCert, "server_cert", "The server's certificate is not trusted: unknown CA, self-signed, missing intermediate, an issuer not allowed to sign certificates (not a CA), an insecure signature algorithm (SHA-1), expired, or issued for another host name.", "Give the client the site CA file, and make sure the server certificate covers the host name in the URL and is within its dates ('licensor doctor cert').", 0, false},
	{CAFile, "ca_file", "The CA bundle cannot be read.", "Check the CA file's path and permissions; it must hold PEM certificates.", 0, false},

	{InstanceLimit, "instance_limit", "The product's instance pool is full: as many instances as the license allows hold a lease.", "Stop or release an instance, wait for an abandoned lease to lapse, or ask the vendor for a license with more instances.", http.StatusTooManyRequests, false},
	{LegacyUnauthorized, "legacy_unauthorized", "Old combined code for product_unlicensed (508) and fingerprint (509); licensor never emits it.", "Read the log line beside it: a missing product is 508, another machine is 509.", http.StatusForbidden, true},
	{Expired, "expired", "The license for the product is past its notAfter date.", "Ask the vendor to renew the license and install the new file.", http.StatusForbidden, false},
	{QPSNeedsAsync, "qps_needs_async", "The license has QPS control but the client is not in async mode.", "Run the client in async mode (LICENSOR_ASYNC=1).", http.StatusForbidden, false},
	{QPSExceeded, "qps_exceeded", "Calls per second are over the licensed QPS.", "Lower the call rate or ask the vendor for a license with a higher QPS.", http.StatusTooManyRequests, false},
	{AsyncDead, "async_dead", "The async refresher has stopped, or the product closed the client (Close).", "If the product closed the client, nothing is wrong: the message says so and the log has 'licensor: closed' at info level. Otherwise restart the product; if it recurs, collect its log: the refresher's last error says why it stopped.", 0, false},
	{Stale, "stale", "The cached verdict has not been refreshed for 10 minutes.", "Check that the product can reach a site server and that its refresher is not starved or suspended.", 0, false},
	{ProductUnlicensed, "product_unlicensed", "The product is not in the license.", "Check the product name the client asks for ('licensor license show'); ask the vendor for a license that includes it.", http.StatusForbidden, false},
	{Fingerprint, "fingerprint", "The license is bound to another machine; the hardware or system identity of this host changed.", "Run 'licensor fingerprint' on this host and send its machine code (or 'licensor activation-request') to the vendor for a new license.", http.StatusForbidden, false},
	{NotYetValid, "not_yet_valid", "The license for the product is not valid yet: the time is before its notBefore date.", "Wait until the notBefore date, or check this host's clock; ask the vendor for an earlier start date if it is wrong.", http.StatusForbidden, false},
	{LicenseTampered, "license_tampered", "The license's signature does not verify: the file was altered after the vendor signed it.", "Install the license file exactly as the vendor sent it ('licensor doctor --license FILE --vendor-pub FILE' checks it); if it came intact, ask the vendor to issue it again.", http.StatusForbidden, false},
	{WrongVendorKey, "wrong_vendor_key", "The license was signed by another vendor key than the one configured.", "Configure the vendor public key that belongs to this license ('licensor keys show' prints a key's id; 'licensor license show' prints the license's).", http.StatusForbidden, false},

	{ClockRollback, "clock_rollback", "This host's clock is behind the latest time licensor has seen here by more than the tolerance: the clock was set back.", "Set the clock right (NTP); licensor serves again once the time passes the high-water mark minus the tolerance. If the mark itself is wrong, 'licensor doctor' explains how to inspect it.", http.StatusServiceUnavailable, false},
	{LeaseUnknown, "lease_unknown", "The instance holds no live lease: it never registered, released it, was revoked by an operator, or let it lapse.", "Register again (the SDK does this by itself); if it recurs, the heartbeat interval is longer than the lease TTL or the instance was revoked.", http.StatusNotFound, false},
	{RoleForbidden, "role_forbidden", "The client certificate's role does not allow this request (instance, renew and admin roles each have their own endpoints).", "Use a client certificate with the role the request needs: 'licensor pki client --role instance|renew|admin'.", http.StatusForbidden, false},
	{ServerKeyMismatch, "server_key_mismatch", "The license trusts another site server key than the one in this server's data directory.", "Start the server with the data directory whose key made the activation request, or send a new activation request ('licensor activation-request --data DIR') to the vendor.", http.StatusInternalServerError, false},

	{VerdictForged, "verdict_forged", "The server's answer is not signed by the server key the license names: an impostor server, or an answer altered on the way.", "Check that the client talks to the site's own server (the URL, and the CA file that vouches for it); 'licensor doctor' compares the server's key with the license's.", 0, false},
	{VerdictReplayed, "verdict_replayed", "The server's answer is signed but not for this request: another instance or product, another license, an old answer (nonce or time), or expired.", "Check this host's clock and that nothing between the client and the server replays answers; the message names what did not match.", 0, false},

	{ClockSkew, "clock_skew", "This host's clock and the server's differ by more than the tolerance, so verdicts look expired or not yet valid; or a site server sharing a database with others has a clock off the database server's (the cluster's reference) by more than min(clock_tolerance, lease_ttl/4), and refuses to serve until it is right.", "Synchronize the clocks with NTP (chrony or systemd-timesyncd); 'licensor doctor' shows the difference, and the server's log names the node and its skew.", http.StatusServiceUnavailable, false},

	{KeyFileMissing, "keyfile_missing", "There is no key file where the product looks for it (or it cannot be read).", "Run 'licensor renew KEYFILE URL…' once by hand, then schedule it daily (cron or the shipped systemd timer) before starting the product.", 0, false},
	{KeyFileExpired, "keyfile_expired", "The key file is past its expiry: it was not renewed in time (the renew client has not reached a site server for days).", "Check the renew timer and that this host reaches a site server ('licensor check --server URL --keyfile'), then run 'licensor renew' by hand.", 0, false},
	{KeyFileNotYetValid, "keyfile_not_yet_valid", "The key file was issued after the time this host's clock shows.", "Set this host's clock right (NTP); the key file becomes valid when the clock passes its issue time.", 0, false},
	{KeyFileTampered, "keyfile_tampered", "The key file's signature chain does not verify: edited, truncated, or not signed by the server key its license names.", "Delete it and run 'licensor renew' to fetch a fresh one; never edit key files.", 0, false},
	{KeyFileMachine, "keyfile_machine", "The key file is bound to another machine: it was copied from another host.", "Run 'licensor renew' on this host: each host gets a key file bound to its own machine code.", http.StatusForbidden, false},

	{NotWhitelisted, "machine_not_whitelisted", "The vendor's whitelist service does not know this machine code, or no longer approves it.", "Send this machine code ('licensor fingerprint' prints it on the first line) to the vendor and ask them to approve it.", http.StatusForbidden, false},
	{GrantExpired, "grant_expired", "The license the vendor's service granted has run out: the contract ended and its grace period passed, and neither the periodic fetches (every upstream_interval) nor a last fetch when the grant ran out brought a renewal. The site server stops (exit status 3).", "Renew the contract with the vendor, then start the site server again: it fetches the new grant at start. A stopped server makes no further fetches; while one runs, it picks up a renewal at its next fetch, without a restart.", http.StatusForbidden, false},
	{KeyFileHostRefused, "keyfile_host_refused", "The license names the hosts that may hold key files, and this host's machine code is not among them.", "Send this host's machine code ('licensor fingerprint' prints it on the first line) to the vendor to have it added to the license's key-file hosts, then install the new license on the site server.", http.StatusForbidden, false},

	{LeaseNotOwned, "lease_not_owned", "The lease belongs to another client identity: it was taken with a client certificate of another name, and only that identity (or an operator's revoke) may resume, renew or release it.", "Give each host its own client certificate ('licensor pki client NAME'); a renewed certificate keeps the host's seats only if it has the same name. To free a seat held by a host that is gone, revoke it with an admin certificate ('licensor revoke --product P --instance ID').", http.StatusForbidden, false},
	{KeyFileRevoked, "keyfile_revoked", "An operator revoked this host's key-file seat: its key file stays valid (offline, it cannot be recalled) and its seat stays counted until the key file expires, but it is not renewed.", "Ask the site's operator why the host was revoked; once the key file it holds has expired, the host may take a seat again with 'licensor renew'.", http.StatusForbidden, false},
	{HWTokenMissing, "hardware_token_missing", "The license binds this server to a hardware token, and no token holding the license's key has answered a presence check for longer than token_grace: the server grants no seats until the token is back.", "Plug the token in (or check the reader and the PKCS#11 module with 'licensor token list --module M'); the server resumes at its next presence check, without a restart. 'licensor doctor' runs the token checks.", http.StatusServiceUnavailable, false},
	{HWTokenWrong, "hardware_token_wrong", "A hardware token is present, but it is not the one the license binds: its key's thumbprint (or its serial) is not the license's.", "Plug in the token the vendor bound the license to; 'licensor token check --module M --license FILE --vendor-pub FILE' names the key and serial the license wants and those each token holds.", http.StatusServiceUnavailable, false},

	{LicenseMalformed, "license_malformed", "The file is not a licensor license: truncated, not a signed license at all, too large, or with a header no licensor license has (a kid that is no key id: the header was edited).", "Install the license file exactly as the vendor sent it, without edits or truncation.", http.StatusBadRequest, false},
	{RequestMalformed, "request_malformed", "The request is malformed: not JSON of the expected shape, or a field is missing or out of range.", "Send the request exactly as licensor produced it; the message names the field at fault.", http.StatusBadRequest, false},
	{KeyMalformed, "key_malformed", "The key file is not a usable key: not PEM, not Ed25519, or a public key where a private key is needed.", "Point at the key file that 'licensor keys generate' (vendor) or 'licensor activation-request' (site server) wrote.", http.StatusBadRequest, false},
	{InvalidArgument, "invalid_argument", "An argument or flag value is invalid.", "Correct the value the message names; 'licensor help COMMAND' lists the accepted forms.", http.StatusBadRequest, false},
	{FileMissing, "file_missing", "A file licensor needs does not exist or cannot be read.", "Check the path and the permissions of the file the message names.", http.StatusNotFound, false},
	{FileExists, "file_exists", "licensor refused to overwrite an existing file.", "Choose another output path, or move the existing file away if you mean to replace it.", http.StatusConflict, false},

	{RequestTooLarge, "request_too_large", "The request body or an identifier in it is larger than the server accepts.", "Send the request as the SDK builds it; instance ids are at most 128 bytes, product names 64.", http.StatusRequestEntityTooLarge, false},
	{ConfigInvalid, "config_invalid", "The configuration file is invalid: not JSON, an unknown key, or a value out of range; the message names the field.", "Correct the field the message names; 'licensor help serve' lists every key and its default.", http.StatusInternalServerError, false},
	{FileUnwritable, "file_unwritable", "A file licensor must keep cannot be written: the disk is full, a disk quota or the file size limit is reached, the file system is read-only, or permissions forbid it.", "Free space on the file system that holds the file, or fix the permissions of its directory (licensor writes a temporary file beside the file and renames it over the old one), then run the command again. The old file is left intact.", http.StatusInternalServerError, false},
	{CertMalformed, "cert_malformed", "The file is not a PEM certificate file: it holds no CERTIFICATE block, or a block that does not decode.", "Give a certificate file such as those 'licensor pki init' and 'licensor pki client' write (.crt); a key file (.key) holds no certificate.", 0, false},

	{StoreUnavailable, "store_unavailable", "The server cannot read or write its store (disk full, file permissions, database down).", "Check the data directory's disk and permissions (or the database's health) and the server log; 'licensor doctor' checks the server's readiness.", http.StatusServiceUnavailable, false},

	{AuditTampered, "audit_tampered", "The audit log's hash chain is broken: an event was edited, inserted or deleted after it was written.", "Keep the store file as evidence and restore the data directory from a backup; the message names the first event that does not verify.", http.StatusInternalServerError, false},

	{ListenFailed, "listen_failed", "The server cannot listen on its address: another process holds the port, or the address is not this host's.", "Stop the other process ('ss -ltnp' names it) or choose another address with --listen or the listen key.", http.StatusInternalServerError, false},

	{StoreRefused, "store_refused", "The store setting cannot be used: not a sqlite: path or a postgres:// URL, a password written in it, or a database that refuses the credentials or the connection.", "Correct the store key ('licensor help serve'); give the PostgreSQL password in store_password_file, PGPASSFILE or PGPASSWORD, never in the URL; check the database's address, user and pg_hba.conf. Nothing was written.", http.StatusInternalServerError, false},

	{StoreTooNew, "store_too_new", "The store's schema was written by a later licensor, in a layout this one does not know.", "Run this node with the licensor version the other nodes run ('licensor version' on each), or upgrade it; a store is never moved back to an older layout.", http.StatusInternalServerError, false},

	{NodeNameTaken, "node_name_taken", "Another site server on the same database runs under this node's name. Two servers with one name would write one audit chain and one share of the seats as if they were one node, so the second is refused.", "Give each node its own name (the node key in server.json, unique in the cluster); the message names the other server's address. A node that died holds its name until the database drops its connection (at once after a crash of the process, within about 30 s after its host went down).", http.StatusServiceUnavailable, false},

	{TokenMalformed, "token_malformed", "The token is not a compact JWS/JWT: not three base64url parts, or a header or claims that are not JSON.", "Pass the whole token, exactly as issued (header.claims.signature).", http.StatusBadRequest, false},
	{TokenAlgorithm, "token_alg_not_allowed", "The token's algorithm is not allowed: \"none\", an HMAC algorithm where a public key verifies (the key-confusion attack), or not the one expected.", "Accept only the issuer's algorithm (EdDSA for licensor); a token with alg none or HS256 against a public key is forged.", http.StatusUnauthorized, false},
	{TokenKeyUnknown, "token_key_unknown", "The token names a key (kid) that the key set does not hold.", "Fetch the issuer's current JWKS; if the kid is still missing, the token comes from another issuer.", http.StatusUnauthorized, false},
	{TokenBadSignature, "token_bad_signature", "The token's signature does not verify with the issuer's key: the token was altered, or signed by another key.", "Use the token exactly as issued and the key set of the issuer that signed it.", http.StatusUnauthorized, false},
	{TokenExpired, "token_expired", "The token is past its exp (beyond the allowed clock skew).", "Get a fresh token; if it expired at once, check this host's clock.", http.StatusUnauthorized, false},
	{TokenNotYetValid, "token_not_yet_valid", "The token's nbf or iat is in the future (beyond the allowed clock skew).", "Check both clocks (NTP); a token from the future means one of them is wrong.", http.StatusUnauthorized, false},
	{TokenWrongIssuer, "token_wrong_issuer", "The token's iss is not the issuer expected.", "Check which service issued the token and which issuer the verifier is configured for.", http.StatusUnauthorized, false},
	{TokenWrongAudience, "token_wrong_audience", "The token's aud does not name this audience: it was issued for another service or product.", "Request a token for this audience, or configure the verifier with the audience the issuer uses.", http.StatusUnauthorized, false},

	{HWModule, "token_module_unusable", "The PKCS#11 module cannot be loaded or initialised: the path names no file, a file that is not a PKCS#11 library, or a library that fails C_Initialize (the token's driver or its configuration is missing).", "Give the module path of the token vendor's PKCS#11 library (for example /usr/lib/softhsm/libsofthsm2.so, /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so); check that its driver service runs and that this user can read its configuration.", 0, false},
	{HWNoToken, "token_not_present", "The PKCS#11 module loads, but no slot holds a token (or none with the label or serial asked for): the token is unplugged, its reader unseen, or the device not accessible to this user.", "Plug the token in; 'licensor token list --module M' lists every slot and token the module sees. If the token is plugged in but not listed, check the device's permissions (udev rules, the pcscd service for smart cards).", 0, false},
	{HWPINIncorrect, "token_pin_incorrect", "The token refused the PIN.", "Give the token's user PIN in the PIN file (token_pin_file, --pin-file) or LICENSOR_TOKEN_PIN; a few more wrong PINs lock the token.", 0, false},
	{HWPINLocked, "token_pin_locked", "The token's user PIN is locked after too many wrong PINs.", "Unlock the token with its security officer PIN (the token vendor's tool, or 'softhsm2-util' / 'pkcs11-tool --init-pin' for SoftHSM) and set a user PIN; then correct the PIN file.", 0, false},
	{HWKeyMissing, "token_key_missing", "The token holds no key of the label, id or thumbprint asked for, or none that licensor can use (ECDSA P-256 or Ed25519 with a private key that signs).", "'licensor token list --module M' lists each token's keys and their thumbprints; plug in the token that holds the license's key, or ask the vendor which key the license binds.", 0, false},
	{HWTimeout, "token_timeout", "The PKCS#11 module did not answer within the timeout: the driver hangs, or the device stopped answering.", "Check the token's driver service and the device (unplug and replug it); the server keeps answering meanwhile and checks again at the next interval.", 0, false},
	{HWUnsupported, "token_unsupported", "This licensor binary was built without hardware token support (CGO_ENABLED=0): it cannot load a PKCS#11 module.", "Use a licensor binary built with cgo (the default 'go build' and 'go install' on Linux), or run the token commands on a host that has one.", 0, false},
	{HWDevice, "token_device_error", "The PKCS#11 module reported an error the token package does not expect (CKR_… named in the message): the device was removed mid-operation, or it failed.", "Replug the token and run 'licensor token list --module M'; if the error stays, the message's CKR_ name is what the token vendor's documentation explains.", 0, false},
	{HWProofFailed, "token_proof_failed", "The token's signature over a fresh challenge does not verify with the key the license binds: the module reports a public key that its private key does not match.", "The token or its module is not the genuine one the license binds; plug in the vendor's token. Nothing on this server was changed.", 0, false},

	{ReportMalformed, "report_malformed", "The file is not a licensor signed usage report: truncated, not JSON of a signed report's shape, with fields out of range, or its readable copy of the report differs from the signed one (it was edited).", "Ask the site for the file exactly as 'licensor report --signed --out FILE' wrote it, without edits; a mail or transfer that changed line endings or truncated it breaks it too.", http.StatusBadRequest, false},
	{ReportSignature, "report_signature", "The usage report's signature does not verify with the server key it names: the report was edited after the site server signed it.", "Ask the site for a new signed report ('licensor report --signed --out FILE'); a report edited by even one byte is refused.", 0, false},
	{ReportWrongServer, "report_wrong_server", "The usage report was signed by a server key that the license does not trust: another server made it, or the license it carries is not the one the vendor issued for that site (or it does not verify with the vendor key given).", "Check --vendor-pub and --license name the vendor's key and the site's license; the report must come from a site server the license binds (any node of a cluster license).", 0, false},
	{ReportPeriodUncovered, "report_period_uncovered", "The audit log does not cover the report's period: the log starts after the period's start (events from before were removed, or the server was installed later), or the period ends in the future.", "Ask for a period the log covers: from the log's first event (the message gives it) to a time already past, e.g. 'licensor report --signed --from DATE --to DATE'.", http.StatusBadRequest, false},
	{ReportChainGap, "report_chain_gap", "The usage report's audit chain positions do not hold together: its end is before its start, or it does not continue the previous report given (the audit log was cut or rewritten between the two).", "Ask the site why its audit log does not continue ('licensor audit verify' on the site names the first event that does not verify); reports for consecutive periods must share their boundary position.", 0, false},

	{ConsoleTokenRefused, "console_token_refused", "The console proxy refused the link: its one-time token is wrong, or it was used already (each link 'licensor console' prints opens one browser session, once).", "Open the link in the browser it was printed for; to open the console in another browser, stop 'licensor console' and start it again for a new link.", http.StatusForbidden, false},
	{ConsoleSessionRequired, "console_session_required", "The console proxy answers only the browser session its one-time link opened: this request carries no session, one that expired (after 12 hours), or one from an earlier run of 'licensor console'.", "Open the link 'licensor console' printed; if it was used already or the proxy was restarted, start 'licensor console' again and open the new link.", http.StatusForbidden, false},
	{ConsoleChangeRefused, "console_change_refused", "A change through the console (a revoke) came without the console's CSRF token, with a token issued to another session or expired, or from another site (its Origin or Sec-Fetch-Site header): it may be a forged cross-site request, and nothing was changed.", "Reload the console page and make the change from it; scripts use the admin API instead ('licensor revoke').", http.StatusForbidden, false},

	{AllServersDown, "all_servers_down", "Every configured server failed its probe.", "Check that at least one site server is running and reachable; 'licensor doctor --server URL' checks each in turn.", 0, false},
}

var (
	byCode = map[Code]*Info{}
	byName = map[string]*Info{}
)

func init() {
	for i := range table {
		in := &table[i]
		if byCode[in.Code] != nil || byName[in.Name] != nil {
			panic(fmt.Sprintf("codes: duplicate entry %d %s", in.Code, in.Name))
		}
		byCode[in.Code] = in
		byName[in.Name] = in
	}
}

// All returns every row of the table, ordered by code.
func All() []Info {
	out := append([]Info(nil), table...)
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}

// Info returns the row for c; ok is false for a code not in the table.
func (c Code) Info() (Info, bool) {
	in, ok := byCode[c]
	if !ok {
		return Info{Code: c, Name: "unknown_code", Meaning: "A code licensor does not know.", Fix: "Upgrade licensor to explain it.", HTTPStatus: http.StatusInternalServerError}, false
	}
	return *in, true
}

// Name returns the code's short name.
func (c Code) Name() string {
	in, _ := c.Info()
	return in.Name
}

// String returns "509 fingerprint".
func (c Code) String() string {
	return strconv.Itoa(int(c)) + " " + c.Name()
}

// HTTPStatus returns the status a server answers with for c.
func (c Code) HTTPStatus() int {
	in, _ := c.Info()
	if in.HTTPStatus == 0 {
		return http.StatusInternalServerError
	}
	return in.HTTPStatus
}

// Lookup finds a code by its number ("509") or its name ("fingerprint").
func Lookup(s string) (Info, bool) {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil {
		in, ok := byCode[Code(n)]
		if !ok {
			return Info{}, false
		}
		return *in, true
	}
	in, ok := byName[strings.ToLower(s)]
	if !ok {
		return Info{}, false
	}
	return *in, true
}
