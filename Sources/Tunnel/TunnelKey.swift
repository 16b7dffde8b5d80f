import Crypto
import Foundation

/// The tunnel's pre-shared AES-256 key. Never logged; compared only by using it.
package struct TunnelKey: Sendable {
    let key: SymmetricKey

    package init(bytes: [UInt8]) {
        precondition(bytes.count == 32, "a tunnel key is 32 bytes")
        key = SymmetricKey(data: bytes)
    }

    /// A new random key, as 64 hex digits (what `llm-proxy tunnel keygen` prints).
    package static func generateHex() -> String {
        let key = SymmetricKey(size: .bits256)
        return key.withUnsafeBytes { $0.map { String(format: "%02x", $0) }.joined() }
    }

    /// Protocol v1's sealing: a random 12-byte nonce ‖ ciphertext ‖ 16-byte tag, no
    /// associated data (the xllm client's layout).
    func sealV1(_ plaintext: some DataProtocol) throws -> Data {
        guard let combined = try AES.GCM.seal(plaintext, using: key).combined else { throw TunnelCryptoError.sealFailed }
        return combined
    }

    func openV1(_ combined: some DataProtocol) throws -> Data {
        guard combined.count >= 28 else { throw TunnelCryptoError.tooShort }
        return try AES.GCM.open(AES.GCM.SealedBox(combined: combined), using: key)
    }

    /// Protocol v2's per-connection keys: HKDF-SHA256 over the pre-shared key, salted with
    /// the client's hello and the server's salt, one key per direction.
    func sessionKeys(clientHello: [UInt8], serverSalt: [UInt8]) -> (clientToServer: SymmetricKey, serverToClient: SymmetricKey) {
        let salt = clientHello + serverSalt
        let c2s = HKDF<SHA256>.deriveKey(inputKeyMaterial: key, salt: salt, info: Array("llmproxy tunnel v2 client to server".utf8), outputByteCount: 32)
        let s2c = HKDF<SHA256>.deriveKey(inputKeyMaterial: key, salt: salt, info: Array("llmproxy tunnel v2 server to client".utf8), outputByteCount: 32)
        return (c2s, s2c)
    }
}

enum TunnelCryptoError: Error {
    case sealFailed, tooShort
}
