import Foundation

/// A module-signing key and its self-signed certificate, made with openssl as the
/// kernel's certs/Makefile makes its own (RSA, the extensions of certs/default_x509.genkey).
/// No kernel trusts it: a module signed with it loads with taint E where signatures are
/// not enforced, and is rejected (EKEYREJECTED) where they are.
public enum SigningKey {
    public static let commonName = "kpatchctl test signing key"

    public static func make(in dir: URL) throws -> (key: URL, certificate: URL) {
        let config = dir.appendingPathComponent("x509.genkey")
        try """
            [ req ]
            default_bits = 2048
            distinguished_name = req_distinguished_name
            prompt = no
            string_mask = utf8only
            x509_extensions = myexts

            [ req_distinguished_name ]
            O = kpatchctl tests
            CN = \(commonName)

            [ myexts ]
            basicConstraints=critical,CA:FALSE
            keyUsage=digitalSignature
            subjectKeyIdentifier=hash
            authorityKeyIdentifier=keyid

            """.write(to: config, atomically: true, encoding: .utf8)
        let key = dir.appendingPathComponent("signing_key.pem"), cert = dir.appendingPathComponent("signing_cert.pem")
        try runChecked(["openssl", "req", "-new", "-nodes", "-utf8", "-sha256", "-days", "36500", "-batch", "-x509",
                        "-config", config.path, "-outform", "PEM", "-out", cert.path, "-keyout", key.path])
        return (key, cert)
    }

    /// The certificate's serial number as modinfo's `sig_key` and kpatchctl show it: the
    /// value's bytes in lower-case hex. About once in 256, openssl's random 159-bit serial is a
    /// 19-byte value with its top bit set, which DER carries with a 00 before it; modinfo
    /// prints the value without it (`96:70:09:…` for serial 0x9670…, session 11).
    public static func serial(_ certificate: URL) throws -> String {
        let line = try runChecked(["openssl", "x509", "-in", certificate.path, "-noout", "-serial"])
        return line.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "serial=", with: "").lowercased()
    }
}
