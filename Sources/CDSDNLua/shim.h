// Shims for the parts of the Lua 5.4 C API that Swift cannot import (function-like macros and
// LUA_REGISTRYINDEX). Everything that can raise a Lua error must run inside a protected call: Lua's
// longjmp must never cross a Swift frame.
#ifndef CDSDNLUA_SHIM_H
#define CDSDNLUA_SHIM_H

#include <lua5.4/lua.h>
#include <lua5.4/lauxlib.h>
#include <lua5.4/lualib.h>

static inline int dsdn_lua_pcall(lua_State *L, int nargs, int nresults, int msgh) {
    return lua_pcall(L, nargs, nresults, msgh);
}
static inline void dsdn_lua_pop(lua_State *L, int n) { lua_pop(L, n); }
static inline const char *dsdn_lua_tolstring(lua_State *L, int idx, size_t *len) {
    return lua_tolstring(L, idx, len);
}
static inline lua_Number dsdn_lua_tonumber(lua_State *L, int idx, int *isnum) {
    return lua_tonumberx(L, idx, isnum);
}
static inline lua_Integer dsdn_lua_tointeger(lua_State *L, int idx, int *isnum) {
    return lua_tointegerx(L, idx, isnum);
}
static inline void dsdn_lua_newtable(lua_State *L) { lua_newtable(L); }
static inline int dsdn_lua_registryindex(void) { return LUA_REGISTRYINDEX; }
static inline int dsdn_lua_isnil(lua_State *L, int idx) { return lua_isnil(L, idx); }
static inline int dsdn_lua_version_num(void) { return LUA_VERSION_NUM; }

/// Compiles `source` in text mode only (binary chunks can crash the interpreter).
static inline int dsdn_lua_load_text(lua_State *L, const char *source, size_t length, const char *chunkname) {
    return luaL_loadbufferx(L, source, length, chunkname, "t");
}

#endif
