import LuaSandbox
import Testing

@Suite struct LuaStateTests {
    @Test func linksLua54() {
        #expect(LuaState.versionNumber == 504)
    }

    @Test func runsATrivialScript() throws {
        let lua = try LuaState()
        #expect(try lua.evaluate("return 6 * 7") == "42")
        #expect(try lua.evaluate("local s = 'dsdn' return s .. '-' .. #s") == "dsdn-4")
    }

    @Test func syntaxErrorIsReportedNotCrashed() throws {
        let lua = try LuaState()
        let error = #expect(throws: LuaError.self) { try lua.evaluate("return (", chunkName: "=broken") }
        #expect(error?.code == 3)  // LUA_ERRSYNTAX
        #expect(error?.message.contains("broken") == true)
    }

    @Test func runtimeErrorIsProtected() throws {
        let lua = try LuaState()
        // No library is opened, so this indexes nil at run time: a Lua error raised by longjmp, caught by
        // the protected call in C.
        let error = #expect(throws: LuaError.self) { try lua.evaluate("local t = nil return t.boom", chunkName: "=probe") }
        #expect(error?.code == 2)  // LUA_ERRRUN
        #expect(error?.message.contains("attempt to index a nil value") == true)
        #expect(error?.message.contains("probe:1") == true)
        // The state stays usable after a caught error.
        #expect(try lua.evaluate("return 1 + 1") == "2")
    }

    @Test func bytecodeIsRefused() throws {
        let lua = try LuaState()
        // "\27Lua" is the signature of a precompiled chunk; text mode must refuse it.
        let error = #expect(throws: LuaError.self) { try lua.evaluate("\u{1B}Lua\u{54}\u{00}") }
        #expect(error?.message.contains("binary") == true)
    }
}
