/// Text a policy wrote (an error message, a filter reason) made safe for a terminal, a log line or an
/// API body: one line of printable characters with a bounded length.
public enum PrintableText {
    /// The longest text kept, in characters (Unicode scalars); the rest is counted, not shown.
    public static let defaultLimit = 400

    /// `text` with every control character, line or paragraph separator and bidirectional override
    /// written as an escape (`\n`, `\r`, `\t`, `\u{1B}`, …), and cut after `limit` characters.
    public static func oneLine(_ text: String, limit: Int = defaultLimit) -> String {
        var result = ""
        var kept = 0
        var dropped = 0
        for scalar in text.unicodeScalars {
            guard kept < limit else {
                dropped += 1
                continue
            }
            kept += 1
            switch scalar.value {
            case 0x0A: result += "\\n"
            case 0x0D: result += "\\r"
            case 0x09: result += "\\t"
            case 0x00..<0x20, 0x7F..<0xA0, 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069, 0x200E, 0x200F, 0x061C, 0xFEFF:
                result += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            default: result.unicodeScalars.append(scalar)
            }
        }
        if dropped > 0 { result += "… (\(dropped) more characters)" }
        return result
    }
}
