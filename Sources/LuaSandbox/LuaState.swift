import CDSDNLua

/// An error raised by Lua, with the status code the C API returned.
public struct LuaError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The Lua status code (`LUA_ERRSYNTAX`, `LUA_ERRRUN`, `LUA_ERRMEM`, …).
    public var code: Int32
    /// The message Lua produced.
    public var message: String

    /// A readable one-line description.
    public var description: String { "lua error \(code): \(message)" }
}

/// One `lua_State`, closed in `deinit`.
///
/// Not thread-safe and not `Sendable`: a state belongs to one thread or actor. The full policy sandbox
/// (budgets, deterministic standard library) is built on top of this in the policy-engine issue; this
/// type only proves the C boundary: text-only loading and protected calls, so Lua's longjmp never
/// crosses a Swift frame.
public final class LuaState {
    private let state: OpaquePointer

    /// Creates a state with no libraries opened.
    public init() throws(LuaError) {
        guard let state = luaL_newstate() else {
            throw LuaError(code: LUA_ERRMEM, message: "cannot allocate a Lua state")
        }
        self.state = state
    }

    deinit { lua_close(state) }

    /// The Lua version this process links against, e.g. `504`.
    public static var versionNumber: Int { Int(dsdn_lua_version_num()) }

    /// Compiles `source` (text only) and runs it in protected mode, returning its first result as a
    /// string (numbers are converted by Lua), or `nil` when it returns nothing or a non-string value.
    public func evaluate(_ source: String, chunkName: String = "=script") throws(LuaError) -> String? {
        let base = lua_gettop(state)
        defer { lua_settop(state, base) }
        var utf8 = Array(source.utf8)
        let loadStatus = utf8.withUnsafeMutableBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                dsdn_lua_load_text(state, chars.baseAddress, chars.count, chunkName)
            }
        }
        guard loadStatus == LUA_OK else { throw error(code: loadStatus) }
        let callStatus = dsdn_lua_pcall(state, 0, 1, 0)
        guard callStatus == LUA_OK else { throw error(code: callStatus) }
        return string(at: -1)
    }

    private func string(at index: Int32) -> String? {
        let type = lua_type(state, index)
        guard type == LUA_TSTRING || type == LUA_TNUMBER else { return nil }
        var length = 0
        guard let pointer = dsdn_lua_tolstring(state, index, &length) else { return nil }
        let bytes = UnsafeRawBufferPointer(start: pointer, count: length)
        return String(decoding: bytes, as: UTF8.self)
    }

    private func error(code: Int32) -> LuaError {
        LuaError(code: code, message: string(at: -1) ?? "(error object is not a string)")
    }
}
