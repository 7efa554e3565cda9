import DSDNDA

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A celestia-node auth token (a JWT from `celestia light auth write`), kept out of every description,
/// log line and printed URL.
///
/// `description` and `debugDescription` are always `<redacted>`; only the HTTP layer reads the secret.
public struct CelestiaAuthToken: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The environment variable a token is read from when no token file is given.
    public static let environmentVariable = "CELESTIA_AUTH_TOKEN"

    /// Where a token came from, for messages (never the token itself).
    public enum Source: Sendable, Hashable, CustomStringConvertible {
        /// Read from a file.
        case file(String)
        /// Read from ``CelestiaAuthToken/environmentVariable``.
        case environment
        /// Passed in directly (tests, embedding).
        case direct

        /// A short phrase such as `from the file /path`.
        public var description: String {
            switch self {
            case let .file(path): "from the file \(path)"
            case .environment: "from \(CelestiaAuthToken.environmentVariable)"
            case .direct: "given directly"
            }
        }
    }

    let secret: String
    /// Where the token came from.
    public let source: Source

    /// Wraps a token. Surrounding whitespace (a trailing newline in a token file) is removed.
    public init(_ token: String, source: Source = .direct) {
        self.secret = token.trimmedWhitespace
        self.source = source
    }

    /// Always `<redacted>`.
    public var description: String { "<redacted>" }
    /// Always `<redacted>`.
    public var debugDescription: String { "<redacted>" }

    /// Reads the token: from `tokenFile` when given (an unreadable or empty file is an error), otherwise
    /// from `CELESTIA_AUTH_TOKEN` in `environment` when set and non-empty, otherwise `nil` (the node then
    /// answers with permission errors that say a token is needed).
    ///
    /// - Throws: `DAError(.unauthorized, …)` naming the file (never its content) when it cannot be read
    ///   or holds no token.
    public static func resolve(
        tokenFile: String?,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(DAError) -> CelestiaAuthToken? {
        if let tokenFile {
            let data: Data
            do {
                data = try Data(contentsOf: URL(fileURLWithPath: tokenFile))
            } catch {
                throw DAError(.unauthorized, "cannot read the Celestia auth token file \(tokenFile): \(Self.reason(error))")
            }
            let token = CelestiaAuthToken(String(decoding: data, as: UTF8.self), source: .file(tokenFile))
            guard !token.secret.isEmpty else {
                throw DAError(
                    .unauthorized, "the Celestia auth token file \(tokenFile) is empty; write one with `celestia light auth write`")
            }
            guard !token.secret.contains(where: { $0.isWhitespace }) else {
                throw DAError(
                    .unauthorized, "the Celestia auth token file \(tokenFile) holds more than one word; it must contain only the token")
            }
            return token
        }
        if let value = environment[environmentVariable] {
            let token = CelestiaAuthToken(value, source: .environment)
            return token.secret.isEmpty ? nil : token
        }
        return nil
    }

    private static func reason(_ error: any Error) -> String {
        if let error = error as? CocoaError {
            switch error.code {
            case .fileReadNoSuchFile, .fileNoSuchFile: return "no such file"
            case .fileReadNoPermission: return "permission denied"
            default: break
            }
        }
        return "unreadable"
    }
}
