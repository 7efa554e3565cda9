// The system's Lua 5.4 headers, for the module map. Everything that calls into Lua lives in the C
// target CDSDNSandbox (Lua errors are longjmps and must never cross a Swift frame).
#ifndef CDSDNLUA_SHIM_H
#define CDSDNLUA_SHIM_H

#include <lua5.4/lua.h>
#include <lua5.4/lauxlib.h>
#include <lua5.4/lualib.h>

#endif
