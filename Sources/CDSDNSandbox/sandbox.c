// The deterministic, bounded Lua 5.4 sandbox for placement policies. docs/policies.md (sections 6, 7
// and 9) says what policies see, how budgets are counted and which hazards each piece answers.
#include "dsdn_sandbox.h"

#include <lua5.4/lauxlib.h>
#include <lua5.4/lua.h>
#include <lua5.4/lualib.h>

#include <dlfcn.h>
#include <locale.h>
#include <math.h>
#include <time.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/// A string of length L is one allocation of offsetof(TString, contents) + L + 1 bytes: 24 + L + 1 on
/// 64-bit Lua 5.4. The cap compares against that, so `..` and string.rep refuse the same lengths.
#define DSDN_STRING_OVERHEAD 25

/// The most values one library call may return (table.unpack, string.byte).
#define DSDN_MAX_RESULTS 256

/// The size of the integer range i..j, without signed overflow.
static lua_Unsigned range_size(lua_Integer i, lua_Integer j) {
    return j >= i ? (lua_Unsigned)j - (lua_Unsigned)i + 1 : 0;
}

enum breach { BREACH_NONE = 0, BREACH_INSTRUCTIONS, BREACH_MEMORY, BREACH_INVALID };

/// Small blocks (up to 512 bytes, in 16-byte classes) are recycled within a box, up to 8 MiB of them.
/// Only where memory comes from changes: the budget counts the sizes Lua asks for, as before.
#define DSDN_SMALL_CLASSES 32
#define DSDN_SMALL_LIMIT 512
#define DSDN_CACHE_LIMIT ((size_t)8 << 20)

typedef struct buffer {
    uint8_t *bytes;
    size_t length, capacity, limit;
    int overflow;
} buffer;

struct dsdn_box {
    lua_State *L;
    // Allocation accounting (always on) and limits (on only while policy code runs).
    size_t live, total, peak;
    int limited;
    size_t live_limit, total_limit, max_alloc, max_string, baseline_live;
    // Instruction accounting.
    uint64_t used, instruction_limit;
    // The first budget breach or invalid result, decided here, not by the script.
    int breach;
    size_t reported_peak;
    int policy_ref, driver_ref, randomseed_ref, current_ref, env_ref;
    buffer result;
    char message[1024];
    size_t message_length;
    // Creation: the state's first block (Lua's LG: the main thread and the global state) and the seed
    // to write into it at the next allocation.
    char *first_block;
    size_t first_block_size;
    uint32_t hash_seed;
    int seed_pending, seed_written;
    // The largest decision result exported: the decision's memory budget.
    size_t result_limit;
    // The safety net on CPU time (see outran_the_count): when the run started, and its allowance.
    uint64_t cpu_start_ns, cpu_allowance_ns;
    // Wall time of the last run of policy code (begin to end), for benchmarks.
    uint64_t run_start_ns, run_ns;
    uint32_t hooks;
    int outran;
    // The thread policy code runs on (the main thread, or a decision's own thread at API level 2).
    lua_State *running;
    // API level 2: the compiled top level (rerun per decision), the prepared snapshot, and the global
    // state's address, whose string table is host bookkeeping a warm state does not charge.
    int chunk_ref, snapshot_ref, prepare_ref, choose_ref;
    // API level 2: the compiled top level as bytecode (made by this host from the checked text), so
    // each decision loads a closure of its own, with an _ENV upvalue of its own.
    buffer chunk_dump;
    int prepared;
    char *global_state;
    size_t exempt;
    // Freed small blocks kept for reuse, by size class (see small_alloc): a warm state's decisions make
    // and drop the same few hundred objects each time, which the C library's allocator handles poorly.
    void *free_blocks[DSDN_SMALL_CLASSES];
    size_t cached_bytes;
};

/// This thread's CPU time in nanoseconds.
static uint64_t thread_cpu_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

/// CPU time allowed per budgeted instruction: about 30 times what a plain Lua loop takes here, and 10
/// times the costliest charged operation (docs/policies.md §7.6).
#define DSDN_CPU_NS_PER_INSTRUCTION 200

// MARK: - Buffers (plain malloc: host data, outside the policy's budget)

static int buf_reserve(buffer *b, size_t extra) {
    if (b->overflow) return 0;
    if (extra > b->limit || b->length > b->limit - extra) { b->overflow = 1; return 0; }
    if (b->length + extra <= b->capacity) return 1;
    size_t capacity = b->capacity ? b->capacity : 4096;
    while (capacity < b->length + extra) capacity *= 2;
    if (capacity > b->limit) capacity = b->limit;
    uint8_t *bytes = realloc(b->bytes, capacity);
    if (!bytes) { b->overflow = 1; return 0; }
    b->bytes = bytes;
    b->capacity = capacity;
    return 1;
}
static void buf_put(buffer *b, const void *p, size_t n) {
    if (!buf_reserve(b, n)) return;
    memcpy(b->bytes + b->length, p, n);
    b->length += n;
}
static void buf_u8(buffer *b, uint8_t v) { buf_put(b, &v, 1); }
static void buf_u32(buffer *b, uint32_t v) { buf_put(b, &v, 4); }

static void set_message(dsdn_box *box, const char *text, size_t length) {
    if (length >= sizeof box->message) length = sizeof box->message - 1;
    memcpy(box->message, text, length);
    box->message[length] = 0;
    box->message_length = length;
}

// MARK: - Allocator and instruction hook

static void hook(lua_State *L, lua_Debug *ar);

static void *box_alloc(void *ud, void *ptr, size_t osize, size_t nsize);
static void charge_from_c_library(size_t work);

/// Lua 5.4 seeds string hashes from the clock and three addresses (luai_makeseed in lstate.c), so the
/// same policy lays its tables out differently in every process. No API sets the seed; this writes it.
///
/// Called at the state's second allocation (stack_init's stack, inside lua_newstate): by then
/// lua_newstate has stored the seed, and no string exists yet whose hash would go stale. The global
/// state is found in the first block by the fields lua_newstate has just set, in the order every 5.4
/// release declares them (lstate.h): frealloc, ud, totalbytes (= the first block's size), GCdebt (0),
/// GCestimate, lastatomic (0), strt (hash NULL, nuse 0, size 0), l_registry (nil), nilvalue (the
/// integer 0 that marks a state under construction), seed. Nothing is written unless every one matches.
static void write_hash_seed(dsdn_box *box) {
    const size_t seed_offset = 96;
    for (size_t offset = 0; offset + seed_offset + sizeof(uint32_t) <= box->first_block_size; offset += 8) {
        const char *g = box->first_block + offset;
        lua_Alloc frealloc;
        void *ud, *strings;
        int64_t totalbytes, debt, lastatomic, nil_value;
        int string_count, string_slots;
        memcpy(&frealloc, g, sizeof frealloc);
        memcpy(&ud, g + 8, sizeof ud);
        memcpy(&totalbytes, g + 16, sizeof totalbytes);
        memcpy(&debt, g + 24, sizeof debt);
        memcpy(&lastatomic, g + 40, sizeof lastatomic);
        memcpy(&strings, g + 48, sizeof strings);
        memcpy(&string_count, g + 56, sizeof string_count);
        memcpy(&string_slots, g + 60, sizeof string_slots);
        memcpy(&nil_value, g + 80, sizeof nil_value);
        uint8_t registry_tag = (uint8_t)g[72], nil_tag = (uint8_t)g[88];
        if (frealloc != box_alloc || ud != box || totalbytes != (int64_t)box->first_block_size || debt != 0 || lastatomic != 0 ||
            strings != NULL || string_count != 0 || string_slots != 0 || registry_tag != 0 || nil_value != 0 || nil_tag != 3)
            continue;
        memcpy(box->first_block + offset + seed_offset, &box->hash_seed, sizeof box->hash_seed);
        box->seed_written = 1;
        box->global_state = box->first_block + offset;
        return;
    }
}

/// The size class of a small block (its size rounded up to 16 bytes), or -1 for a large one.
static int small_class(size_t size) { return size == 0 || size > DSDN_SMALL_LIMIT ? -1 : (int)((size + 15) / 16) - 1; }

static void block_free(dsdn_box *box, void *ptr, size_t size) {
    if (!ptr) return;
    int class = small_class(size);
    if (class < 0 || box->cached_bytes + (size_t)(class + 1) * 16 > DSDN_CACHE_LIMIT) {
        free(ptr);
        return;
    }
    *(void **)ptr = box->free_blocks[class];
    box->free_blocks[class] = ptr;
    box->cached_bytes += (size_t)(class + 1) * 16;
}

/// realloc with small blocks taken from and given back to the box's classes. A small block is always
/// malloc'ed at its class's full size, so the C library can take any block back.
static void *block_realloc(dsdn_box *box, void *ptr, size_t old, size_t size) {
    int to = small_class(size), from = ptr ? small_class(old) : -1;
    if (ptr && to == from && to >= 0) return ptr;
    if (ptr && to < 0 && from < 0) return realloc(ptr, size);
    void *block;
    if (to >= 0 && box->free_blocks[to]) {
        block = box->free_blocks[to];
        box->free_blocks[to] = *(void **)block;
        box->cached_bytes -= (size_t)(to + 1) * 16;
    } else {
        block = malloc(to >= 0 ? (size_t)(to + 1) * 16 : size);
        if (!block) return NULL;
    }
    if (ptr) {
        memcpy(block, ptr, old < size ? old : size);
        block_free(box, ptr, old);
    }
    return block;
}

static void *box_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    dsdn_box *box = ud;
    if (box->seed_pending && !ptr && nsize > 0) {
        box->seed_pending = 0;
        write_hash_seed(box);
    }
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        if (ptr) box->live -= old;
        block_free(box, ptr, old);
        return NULL;
    }
    // A prepared (warm) state keeps its string table between decisions; how large it has grown depends
    // on earlier decisions, so resizing it is host bookkeeping, never charged (global_State.strt.hash).
    int string_table = 0;
    if (box->prepared && ptr && box->global_state) {
        void *strings;
        memcpy(&strings, box->global_state + 48, sizeof strings);
        string_table = ptr == strings;
    }
    size_t counted = box->live - box->exempt;
    if (nsize > old && box->limited && !string_table) {
        size_t grow = nsize - old;
        // A new string's osize is its type tag: cap strings on their own, because comparing or hashing
        // a long string is O(length) work inside one VM instruction, unseen by the count hook.
        int too_long_string = !ptr && osize == LUA_TSTRING && nsize > box->max_string + DSDN_STRING_OVERHEAD;
        if (box->breach != BREACH_NONE || too_long_string || nsize > box->max_alloc || counted + grow > box->live_limit ||
            box->total + grow > box->total_limit) {
            if (box->breach == BREACH_NONE) {
                box->breach = BREACH_MEMORY;
                // Sticky: every later instruction fails too, so pcall cannot catch and retry.
                lua_State *running = box->running ? box->running : box->L;
                if (running) lua_sethook(running, hook, LUA_MASKCOUNT, 1);
            }
            return NULL;
        }
    }
    // Making a long string (over Lua's 40-byte short strings) is work in proportion to its length inside
    // one instruction (`..` copies it; using it as a key hashes every byte): an instruction per 16 bytes.
    if (!ptr && osize == LUA_TSTRING && box->limited && nsize > DSDN_STRING_OVERHEAD + 40)
        charge_from_c_library((nsize - DSDN_STRING_OVERHEAD) / 16);
    void *block = block_realloc(box, ptr, old, nsize);
    if (!block) return NULL;
    if (!ptr && osize == LUA_TTHREAD && box->first_block == NULL) {
        box->first_block = block;
        box->first_block_size = nsize;
        box->seed_pending = 1;
    }
    box->live = box->live - old + nsize;
    if (string_table) {
        box->exempt = box->exempt - old + nsize;
        return block;
    }
    if (nsize > old) box->total += nsize - old;
    counted = box->live - box->exempt;
    if (counted > box->peak) box->peak = counted;
    return block;
}

static dsdn_box *box_of(lua_State *L) {
    void *ud = NULL;
    lua_getallocf(L, &ud);
    return ud;
}

static void exhaust_instructions(lua_State *L, dsdn_box *box) {
    if (box->breach == BREACH_NONE) box->breach = BREACH_INSTRUCTIONS;
    lua_sethook(L, hook, LUA_MASKCOUNT, 1);
}

/// How many extra arguments (`...`) the running Lua function holds: lua_getlocal(L, ar, -n) names the
/// n-th while n is at most their count, so a doubling then a binary search finds it.
static lua_Integer vararg_count(lua_State *L) {
    lua_Debug ar;
    if (!lua_getstack(L, 0, &ar) || !lua_getinfo(L, "u", &ar) || !ar.isvararg) return 0;
    int present = 0, absent = 1;
    while (absent <= (1 << 22) && lua_getlocal(L, &ar, -absent) != NULL) {
        lua_pop(L, 1);
        present = absent;
        absent *= 2;
    }
    while (absent - present > 1) {
        int middle = present + (absent - present) / 2;
        if (lua_getlocal(L, &ar, -middle) != NULL) {
            lua_pop(L, 1);
            present = middle;
        } else {
            absent = middle;
        }
    }
    return present;
}

static void hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    dsdn_box *box = box_of(L);
    if (box->breach == BREACH_NONE) {
        box->used += DSDN_HOOK_STEP;
        // `...` is copied whole by one instruction (VARARG, or a call passing it on). Any of the last
        // DSDN_HOOK_STEP instructions may have done so: past 16 values, each is charged as 1/16.
        lua_Integer extra = vararg_count(L);
        if (extra > 16) box->used += (uint64_t)DSDN_HOOK_STEP * (uint64_t)extra / 16;
        // The safety net: work the count cannot see at all (keys chosen to collide make one table lookup
        // walk thousands of slots inside one instruction) is stopped by CPU time, far above what any
        // counted work takes. Such a run ends in instruction_budget everywhere; only where it stops differs.
        if ((++box->hooks & 15) == 0 && thread_cpu_ns() - box->cpu_start_ns > box->cpu_allowance_ns) {
            box->outran = 1;
            exhaust_instructions(L, box);
            luaL_error(L, "instruction budget exhausted");
        }
        if (box->used <= box->instruction_limit) return;
        exhaust_instructions(L, box);
    }
    luaL_error(L, box->breach == BREACH_MEMORY ? "memory budget exhausted" : "instruction budget exhausted");
}

/// Charges work done inside C library functions, which the count hook does not see.
static void charge(lua_State *L, uint64_t work) {
    dsdn_box *box = box_of(L);
    if (!box->limited) return;
    if (box->breach == BREACH_NONE) {
        box->used += work;
        if (box->used <= box->instruction_limit) return;
        exhaust_instructions(L, box);
    }
    luaL_error(L, box->breach == BREACH_MEMORY ? "memory budget exhausted" : "instruction budget exhausted");
}

// MARK: - Work inside the Lua VM's own C calls

/// The box whose policy code runs on this thread, if any (set by begin, cleared by end).
static __thread dsdn_box *running_box;

/// Charges work the VM does inside one instruction by calling the C library: comparing two strings
/// (`<` calls strcoll once per NUL-separated piece; `==` on long strings calls memcmp). It cannot raise
/// a Lua error there, so past the budget it records the breach and arms the hook to fail the next
/// instruction: at most one more instruction's worth of work is done.
static void charge_from_c_library(size_t work) {
    dsdn_box *box = running_box;
    if (box == NULL || !box->limited || box->breach != BREACH_NONE) return;
    box->used += work;
    if (box->used > box->instruction_limit) {
        box->breach = BREACH_INSTRUCTIONS;
        lua_sethook(box->running ? box->running : box->L, hook, LUA_MASKCOUNT, 1);
    }
}

typedef int (*strcoll_fn)(const char *, const char *);
typedef int (*memcmp_fn)(const void *, const void *, size_t);
static _Atomic(strcoll_fn) next_strcoll = NULL;
static _Atomic(memcmp_fn) next_memcmp = NULL;

__attribute__((no_builtin)) static int bytewise_compare(const void *a, const void *b, size_t n) {
    const volatile unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    return 0;
}

/// The process's strcoll, seen by liblua5.4 (which calls it through its PLT) instead of the C
/// library's: the same answer, with the work charged when a policy runs on this thread. Every
/// executable that links the sandbox defines it; dsdn_box_new checks that liblua's calls arrive here.
int strcoll(const char *a, const char *b) {
    if (running_box != NULL) charge_from_c_library(1 + strlen(a) / 32);
    strcoll_fn next = atomic_load(&next_strcoll);
    if (next == NULL) {
        next = (strcoll_fn)dlsym(RTLD_NEXT, "strcoll");
        if (next == NULL || next == strcoll) next = (strcoll_fn)strcmp;
        atomic_store(&next_strcoll, next);
    }
    return next(a, b);
}

/// The process's memcmp, likewise: liblua5.4 compares long strings with it (`==`).
int memcmp(const void *a, const void *b, size_t n) {
    if (running_box != NULL) charge_from_c_library(n / 64);
    memcmp_fn next = atomic_load(&next_memcmp);
    if (next == NULL) {
        next = (memcmp_fn)dlsym(RTLD_NEXT, "memcmp");
        if (next == NULL || next == memcmp) next = bytewise_compare;
        atomic_store(&next_memcmp, next);
    }
    return next(a, b, n);
}

/// Whether liblua5.4's string comparisons reach this file's strcoll and memcmp: two distinct long
/// strings compared with `==` and `<` under a running box must be charged.
static int sees_string_comparisons(dsdn_box *box) {
    lua_State *L = box->L;
    char text[256];
    memset(text, 'x', sizeof text);
    lua_pushlstring(L, text, sizeof text);
    lua_pushlstring(L, text, sizeof text);
    box->used = 0;
    box->instruction_limit = UINT64_MAX;
    box->breach = BREACH_NONE;
    box->limited = 1;
    running_box = box;
    int equal = lua_rawequal(L, -1, -2);
    uint64_t after_equal = box->used;
    int less = lua_compare(L, -1, -2, LUA_OPLT);
    uint64_t after_less = box->used;
    running_box = NULL;
    box->limited = 0;
    box->used = 0;
    lua_pop(L, 2);
    return equal && !less && after_equal > 0 && after_less > after_equal;
}

static int panic(lua_State *L) {
    const char *message = lua_tostring(L, -1);
    fprintf(stderr, "dsdn sandbox: unprotected Lua error: %s\n", message ? message : "(not a string)");
    fflush(stderr);
    abort();
}

// MARK: - Read-only views (API level 2)

/// A warm state shares one snapshot's tables with every decision: each is shown through a view, an
/// empty table whose metatable reads from it and refuses writes. Policies have no rawset, setmetatable
/// or getmetatable, so a view is the only way in. Its __newindex is this function, which marks it.
static int view_refuse_write(lua_State *L) {
    return luaL_error(L, "attempt to write to a read-only table (the snapshot's nodes, zones and parameters are shared by "
                         "every decision)");
}

static int is_view(lua_State *L, int index) {
    if (lua_type(L, index) != LUA_TTABLE || !lua_getmetatable(L, index)) return 0;
    lua_getfield(L, -1, "__newindex");
    int view = lua_tocfunction(L, -1) == view_refuse_write;
    lua_pop(L, 2);
    return view;
}

/// Replaces the view at (absolute) `index` by the table it shows; other values stay.
static void see_through(lua_State *L, int index) {
    if (!is_view(L, index)) return;
    lua_getmetatable(L, index);
    lua_getfield(L, -1, "__index");
    lua_replace(L, index);
    lua_pop(L, 1);
}

/// The raw length of the table at `index`, or of the table a view shows.
static lua_Unsigned shown_length(lua_State *L, int index) {
    index = lua_absindex(L, index);
    if (!is_view(L, index)) return lua_rawlen(L, index);
    lua_pushvalue(L, index);
    see_through(L, lua_gettop(L));
    lua_Unsigned length = lua_rawlen(L, -1);
    lua_pop(L, 1);
    return length;
}

static int view_len(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)shown_length(L, 1));
    return 1;
}

/// rawlen that sees through views (a view's own raw length is 0).
static int safe_rawlen(lua_State *L) {
    int type = lua_type(L, 1);
    luaL_argexpected(L, type == LUA_TTABLE || type == LUA_TSTRING, 1, "table or string");
    lua_pushinteger(L, (lua_Integer)(type == LUA_TSTRING ? lua_rawlen(L, 1) : shown_length(L, 1)));
    return 1;
}

/// Replaces the table on top of the stack by a view of it (not of its children).
static void make_view(lua_State *L) {
    int table = lua_gettop(L);
    lua_createtable(L, 0, 0);
    lua_createtable(L, 0, 4);
    lua_pushvalue(L, table);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, view_refuse_write);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, view_len);
    lua_setfield(L, -2, "__len");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_replace(L, table);
}

/// Replaces the value on top of the stack, if a table, by a view; its tables get views first, so every
/// path from the view reaches views only. Host input is a tree at most 32 deep (the transport's bound).
static void freeze(lua_State *L) {
    if (lua_type(L, -1) != LUA_TTABLE) return;
    luaL_checkstack(L, 8, "freeze");
    int table = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, table)) {
        if (lua_type(L, -1) == LUA_TTABLE) {
            freeze(L);
            lua_pushvalue(L, -2);
            lua_insert(L, -2);
            lua_rawset(L, table);  // an existing field: allowed while traversing
        } else {
            lua_pop(L, 1);
        }
    }
    make_view(L);
}

// MARK: - The deterministic library

/// tostring without addresses: tables, functions and userdata print as their type name.
static int safe_tostring(lua_State *L) {
    luaL_checkany(L, 1);
    if (lua_type(L, 1) == LUA_TNUMBER && !lua_isinteger(L, 1) && isnan(lua_tonumber(L, 1))) {
        lua_pushliteral(L, "nan");  // the C library prints "-nan" or "nan" depending on the CPU
        return 1;
    }
    switch (lua_type(L, 1)) {
        case LUA_TNUMBER:
            // A float is formatted by the C library (%.14g): charged like a float conversion.
            if (!lua_isinteger(L, 1)) charge(L, 16);
            luaL_tolstring(L, 1, NULL);
            break;
        case LUA_TSTRING: case LUA_TBOOLEAN: case LUA_TNIL:
            luaL_tolstring(L, 1, NULL);
            break;
        default:
            lua_pushstring(L, luaL_typename(L, 1));
    }
    return 1;
}

/// Sort key order for spairs: numbers ascending (integers and floats compared by value), then strings
/// bytewise. Other key types are refused.
typedef struct key_entry { int is_string; lua_Number number; lua_Integer integer; int is_integer; const char *s; size_t len; int slot; } key_entry;

/// i < f, exactly (as Lua compares an integer with a float: no rounding of the integer).
static int int_less_float(lua_Integer i, double f) {
    if (f >= 9223372036854775808.0) return 1;
    if (f < -9223372036854775808.0) return 0;
    double floor_f = floor(f);
    return floor_f == f ? i < (lua_Integer)f : i <= (lua_Integer)floor_f;
}

static int int_equals_float(lua_Integer i, double f) {
    return f >= -9223372036854775808.0 && f < 9223372036854775808.0 && floor(f) == f && (lua_Integer)f == i;
}

static int key_less(const key_entry *a, const key_entry *b) {
    if (a->is_string != b->is_string) return !a->is_string;
    if (!a->is_string) {
        if (a->is_integer && b->is_integer) return a->integer < b->integer;
        if (a->is_integer) return int_less_float(a->integer, b->number);
        if (b->is_integer) return !int_less_float(b->integer, a->number) && !int_equals_float(b->integer, a->number);
        return a->number < b->number;
    }
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->s, b->s, n);
    return c < 0 || (c == 0 && a->len < b->len);
}

static void merge_keys(key_entry *items, key_entry *scratch, size_t n) {
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) scratch[k++] = key_less(&items[j], &items[i]) ? items[j++] : items[i++];
            while (i < mid) scratch[k++] = items[i++];
            while (j < hi) scratch[k++] = items[j++];
        }
        memcpy(items, scratch, n * sizeof *items);
    }
}

static int spairs_next(lua_State *L) {
    lua_Integer i = lua_tointeger(L, lua_upvalueindex(3)) + 1;
    lua_pushinteger(L, i);
    lua_replace(L, lua_upvalueindex(3));
    if (lua_rawgeti(L, lua_upvalueindex(2), i) == LUA_TNIL) return 1;
    lua_pushvalue(L, -1);
    lua_rawget(L, lua_upvalueindex(1));
    return 2;
}

/// The slots lua_next visits in the table at `index`, keys or not: its array part (rounded up to a power
/// of two, which covers a size Lua keeps below the real one) and its hash part. Read from Lua 5.4's
/// Table (lobject.h: the GC header's next, tt and marked, then flags, lsizenode, alimit), a layout
/// dsdn_box_new checks on tables of known sizes before any policy runs.
static uint64_t table_slots(lua_State *L, int index) {
    const unsigned char *table = lua_topointer(L, index);
    uint32_t array_limit;
    memcpy(&array_limit, table + 12, sizeof array_limit);
    uint64_t array = 1;
    while (array < array_limit) array *= 2;
    return (array_limit ? array : 0) + ((uint64_t)1 << (table[11] & 63));
}

/// Whether table_slots reads this liblua5.4's tables right: the sizes lua_createtable was asked for.
static int knows_table_layout(lua_State *L) {
    static const int shapes[][3] = {{0, 0, 1}, {0, 1024, 1024}, {100, 3, 4}, {64, 0, 1}, {0, 5, 8}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        lua_createtable(L, shapes[i][0], shapes[i][1]);
        const unsigned char *table = lua_topointer(L, -1);
        uint32_t array_limit;
        memcpy(&array_limit, table + 12, sizeof array_limit);
        int matches = table[8] == LUA_TTABLE && array_limit == (uint32_t)shapes[i][0] && (1 << table[11]) == shapes[i][2];
        lua_pop(L, 1);
        if (!matches) return 0;
    }
    return 1;
}

/// spairs(t): iterate keys in sorted order, replacing pairs/next whose order differs per process.
/// Charged by the slots walked (twice), not only the keys found: a table that once held many keys
/// keeps its slots.
static int safe_spairs(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    see_through(L, 1);  // the shown table's values are views themselves
    charge(L, 2 * table_slots(L, 1) + 8);
    lua_Integer count = 0;
    lua_pushnil(L);
    while (lua_next(L, 1)) { count++; lua_pop(L, 1); }
    lua_createtable(L, (int)(count < 1 << 24 ? count : 0), 0);  // keys, in sorted order
    int keys = lua_gettop(L);
    key_entry *items = lua_newuserdatauv(L, sizeof(key_entry) * (size_t)(count ? count : 1), 0);
    key_entry *scratch = lua_newuserdatauv(L, sizeof(key_entry) * (size_t)(count ? count : 1), 0);
    // Collecting the keys, then a merge sort: about count × log2(count) comparisons.
    uint64_t levels = 1;
    while (((lua_Integer)1 << levels) < count && levels < 62) levels++;
    charge(L, (uint64_t)count * 4 + (uint64_t)count * levels * 2);
    lua_Integer n = 0;
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        lua_pop(L, 1);
        key_entry *e = &items[n];
        memset(e, 0, sizeof *e);
        int type = lua_type(L, -1);
        if (type == LUA_TSTRING) {
            e->is_string = 1;
            e->s = lua_tolstring(L, -1, &e->len);  // a key string is anchored by the table
        } else if (type == LUA_TNUMBER) {
            e->is_integer = lua_isinteger(L, -1);
            if (e->is_integer) e->integer = lua_tointeger(L, -1); else e->number = lua_tonumber(L, -1);
        } else {
            return luaL_error(L, "spairs: keys must be numbers or strings, found a %s key", luaL_typename(L, -1));
        }
        lua_pushvalue(L, -1);
        e->slot = (int)lua_rawlen(L, keys) + 1;
        lua_rawseti(L, keys, e->slot);
        n++;
    }
    merge_keys(items, scratch, (size_t)n);
    lua_createtable(L, (int)n, 0);
    int sorted = lua_gettop(L);
    for (lua_Integer i = 0; i < n; i++) {
        lua_rawgeti(L, keys, items[i].slot);
        lua_rawseti(L, sorted, i + 1);
    }
    lua_pushvalue(L, 1);
    lua_pushvalue(L, sorted);
    lua_pushinteger(L, 0);
    lua_pushcclosure(L, spairs_next, 3);
    return 1;
}

/// The host's SHA-256 (swift-crypto), registered once before the first state is created.
static _Atomic(dsdn_sha256_fn) host_sha256 = NULL;

void dsdn_set_sha256(dsdn_sha256_fn fn) { atomic_store(&host_sha256, fn); }

static void push_sha256(lua_State *L, uint8_t digest[32]) {
    size_t length;
    const char *data = luaL_checklstring(L, 1, &length);
    charge(L, length / 8 + 16);
    dsdn_sha256_fn fn = atomic_load(&host_sha256);
    if (fn == NULL) luaL_error(L, "sha256 is not available (no host implementation registered)");
    fn((const uint8_t *)data, length, digest);
}

static int safe_sha256(lua_State *L) {
    uint8_t digest[32];
    char hex[64];
    push_sha256(L, digest);
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) { hex[2 * i] = digits[digest[i] >> 4]; hex[2 * i + 1] = digits[digest[i] & 15]; }
    lua_pushlstring(L, hex, 64);
    return 1;
}

static int safe_hash64(lua_State *L) {
    uint8_t digest[32];
    push_sha256(L, digest);
    uint64_t value = 0;
    for (int i = 0; i < 8; i++) value = value << 8 | digest[i];
    lua_pushinteger(L, (lua_Integer)(value & 0x7fffffffffffffffULL));
    return 1;
}

/// string.rep, charged by the bytes produced and the repetitions made, and capped by the budget.
static int safe_rep(lua_State *L) {
    size_t length, sep_length = 0;
    luaL_checklstring(L, 1, &length);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_optlstring(L, 3, "", &sep_length);
    if (n <= 0) { lua_pushliteral(L, ""); return 1; }
    dsdn_box *box = box_of(L);
    long double total = (long double)n * length + (long double)(n - 1) * sep_length;
    if (total > (long double)box->max_string) {
        if (box->breach == BREACH_NONE) box->breach = BREACH_MEMORY;
        lua_sethook(L, hook, LUA_MASKCOUNT, 1);
        return luaL_error(L, "string.rep: result of %.0Lf bytes exceeds the budget", total);
    }
    charge(L, (uint64_t)n / 4 + (uint64_t)total / 16 + 1);
    if (total == 0) { lua_pushliteral(L, ""); return 1; }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

/// string.find, always plain (patterns are not interpreted), charged by the worst-case comparisons.
static int safe_find(lua_State *L) {
    size_t length, pattern_length;
    luaL_checklstring(L, 1, &length);
    luaL_checklstring(L, 2, &pattern_length);
    lua_Integer init = luaL_optinteger(L, 3, 1);
    charge(L, (uint64_t)length + (uint64_t)length * (pattern_length ? pattern_length : 1) / 32 + 1);
    lua_settop(L, 2);
    lua_pushinteger(L, init);
    lua_pushboolean(L, 1);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, 4, LUA_MULTRET);
    return lua_gettop(L);
}

/// What the C library's work on one conversion is charged: 4, or for a float conversion 64 plus 4 per
/// digit it writes (its integer digits for %f, then the precision). Converting 1e308 with %.99f writes
/// 409 digits through multi-precision arithmetic. The digits are counted by dividing by ten, which is
/// exact IEEE arithmetic, so the charge is the same on every machine.
static uint64_t float_conversion_cost(lua_State *L, char conversion, int precision, int argument) {
    if (!strchr("aAeEfFgG", conversion)) return 4;
    uint64_t digits = precision >= 0 ? (uint64_t)precision : 6;
    if ((conversion == 'f' || conversion == 'F') && argument <= lua_gettop(L) && lua_type(L, argument) == LUA_TNUMBER) {
        double value = fabs(lua_tonumber(L, argument));
        for (int steps = 0; value >= 10 && steps < 400; steps++) {
            value /= 10;
            digits++;
        }
    }
    return 64 + 4 * (digits + 1);
}

/// string.format without %p; %s of a table or function prints its type name, never an address.
static int safe_format(lua_State *L) {
    size_t length;
    const char *format = luaL_checklstring(L, 1, &length);
    int argument = 1;
    // Each conversion is charged before any runs: a float one (up to 99 digits of precision of a number
    // up to 1e308) costs the C library far more than its share of the output.
    uint64_t conversions = 0;
    for (size_t i = 0; i < length; i++) {
        if (format[i] != '%') continue;
        i++;
        if (i < length && format[i] == '%') continue;
        int precision = -1;
        while (i < length && strchr("-+ #0123456789.", format[i])) {
            if (format[i] == '.') precision = 0;
            else if (precision >= 0 && format[i] >= '0' && format[i] <= '9') precision = precision * 10 + (format[i] - '0');
            i++;
        }
        if (i >= length) break;
        argument++;
        conversions += float_conversion_cost(L, format[i], precision, argument);
        if (format[i] == 'p') return luaL_error(L, "string.format: %%p is not available in policies");
        if (strchr("aAeEfFgG", format[i]) && argument <= lua_gettop(L) && lua_type(L, argument) == LUA_TNUMBER &&
            !lua_isinteger(L, argument) && isnan(lua_tonumber(L, argument)))
            return luaL_error(L, "string.format: cannot format nan (its text differs between machines)");
        if (format[i] == 's' && argument <= lua_gettop(L)) {
            int type = lua_type(L, argument);
            if (type == LUA_TTABLE || type == LUA_TFUNCTION || type == LUA_TUSERDATA || type == LUA_TLIGHTUSERDATA ||
                type == LUA_TTHREAD) {
                lua_pushstring(L, luaL_typename(L, argument));  // never an address
                lua_replace(L, argument);
            } else if (type == LUA_TNUMBER && !lua_isinteger(L, argument) && isnan(lua_tonumber(L, argument))) {
                lua_pushliteral(L, "nan");  // the C library's NaN text depends on the CPU
                lua_replace(L, argument);
            }
        }
    }
    charge(L, conversions + 1);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    size_t out_length;
    lua_tolstring(L, -1, &out_length);
    charge(L, out_length / 16 + 1);
    return 1;
}

/// Wraps a library function that works in proportion to the length of its first (string) argument.
static int charged_by_length(lua_State *L) {
    size_t length = 0;
    if (lua_type(L, 1) == LUA_TSTRING) lua_tolstring(L, 1, &length);
    charge(L, length / 16 + 1);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/// string.byte, returning at most DSDN_MAX_RESULTS values: passing many values on (`...`) copies them
/// all inside one VM instruction.
static int safe_byte(lua_State *L) {
    size_t length;
    luaL_checklstring(L, 1, &length);
    lua_Integer i = luaL_optinteger(L, 2, 1);
    lua_Integer j = luaL_optinteger(L, 3, i);
    lua_Integer len = (lua_Integer)length;
    if (i < 0) i = len + i + 1 > 0 ? len + i + 1 : 1;
    if (j < 0) j = len + j + 1;
    if (j > len) j = len;
    if (range_size(i, j) > DSDN_MAX_RESULTS)
        return luaL_error(L, "string.byte: at most %d results, asked for %I", DSDN_MAX_RESULTS, (lua_Integer)range_size(i, j));
    return charged_by_length(L);
}

/// Wraps a library function that works in proportion to its number of arguments.
static int charged_by_arguments(lua_State *L) {
    charge(L, (uint64_t)lua_gettop(L) / 4 + 1);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/// Wraps a table function that works in proportion to the length of its first (table) argument, or,
/// for unpack (upvalue 2 = 1) and concat (upvalue 2 = 2), to the index range it is asked for.
static int charged_by_table(lua_State *L) {
    lua_Unsigned length = lua_type(L, 1) == LUA_TTABLE ? shown_length(L, 1) : 0;
    lua_Integer kind = lua_tointeger(L, lua_upvalueindex(2));
    if (lua_type(L, 1) == LUA_TTABLE && kind == 1) {
        lua_Integer i = luaL_optinteger(L, 2, 1), j = luaL_opt(L, luaL_checkinteger, 3, (lua_Integer)length);
        length = range_size(i, j);
        if (length > DSDN_MAX_RESULTS)
            return luaL_error(L, "table.unpack: at most %d results, asked for %I", DSDN_MAX_RESULTS, (lua_Integer)length);
    } else if (lua_type(L, 1) == LUA_TTABLE && kind == 2) {
        lua_Integer i = luaL_optinteger(L, 3, 1), j = luaL_opt(L, luaL_checkinteger, 4, (lua_Integer)length);
        length = range_size(i, j);
    }
    charge(L, (uint64_t)length + 1);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    size_t out_length;
    if (lua_type(L, -1) == LUA_TSTRING) { lua_tolstring(L, -1, &out_length); charge(L, out_length / 16); }
    return lua_gettop(L);
}

/// A stable merge sort replacing table.sort (an unstable quicksort with a clock-randomized pivot). Any
/// comparator, even an inconsistent one, gives the same result everywhere, in O(n log n) calls.
static int sort_less(lua_State *L, int has_comparator, int a, int b) {
    charge(L, 2);
    if (has_comparator) {
        lua_pushvalue(L, 2);
        lua_pushvalue(L, a);
        lua_pushvalue(L, b);
        lua_call(L, 2, 1);
        int result = lua_toboolean(L, -1);
        lua_pop(L, 1);
        return result;
    }
    return lua_compare(L, a, b, LUA_OPLT);
}

static int safe_sort(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    if (is_view(L, 1)) return view_refuse_write(L);  // it writes with rawseti
    int has_comparator = !lua_isnoneornil(L, 2);
    if (has_comparator) luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_settop(L, 2);
    lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
    if (n < 2) return 0;
    if (n > 10000000) return luaL_error(L, "table.sort: array too large");
    charge(L, (uint64_t)n);
    lua_createtable(L, (int)n, 0);  // 3: source
    lua_createtable(L, (int)n, 0);  // 4: destination
    for (lua_Integer i = 1; i <= n; i++) { lua_rawgeti(L, 1, i); lua_rawseti(L, 3, i); }
    for (lua_Integer width = 1; width < n; width *= 2) {
        for (lua_Integer lo = 1; lo <= n; lo += 2 * width) {
            lua_Integer mid = lo + width <= n + 1 ? lo + width : n + 1;
            lua_Integer hi = lo + 2 * width <= n + 1 ? lo + 2 * width : n + 1;
            lua_Integer i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                lua_rawgeti(L, 3, j);  // right
                lua_rawgeti(L, 3, i);  // left
                int top = lua_gettop(L);
                if (sort_less(L, has_comparator, top - 1, top)) { lua_pop(L, 1); j++; }
                else { lua_remove(L, top - 1); i++; }
                lua_rawseti(L, 4, k++);
            }
            while (i < mid) { lua_rawgeti(L, 3, i++); lua_rawseti(L, 4, k++); }
            while (j < hi) { lua_rawgeti(L, 3, j++); lua_rawseti(L, 4, k++); }
        }
        lua_rotate(L, 3, 1);  // swap source and destination
    }
    for (lua_Integer i = 1; i <= n; i++) { lua_rawgeti(L, 3, i); lua_rawseti(L, 1, i); }
    return 0;
}

static void copy_fields(lua_State *L, int from, int to, const char *const *names) {
    for (; *names; names++) {
        lua_getfield(L, from, *names);
        lua_setfield(L, to, *names);
    }
}

static void wrap_field(lua_State *L, int from, int to, const char *name, lua_CFunction wrapper, int extra) {
    lua_getfield(L, from, name);
    if (extra) lua_pushinteger(L, extra);
    lua_pushcclosure(L, wrapper, extra ? 2 : 1);
    lua_setfield(L, to, name);
}

/// Builds the policy environment table and leaves it on the stack.
static void push_policy_env(lua_State *L) {
    lua_newtable(L);
    int env = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    int globals = lua_gettop(L);
    static const char *const base[] = {"assert", "error", "ipairs", "pcall", "select", "type", NULL};
    copy_fields(L, globals, env, base);
    wrap_field(L, globals, env, "tonumber", charged_by_length, 0);
    wrap_field(L, globals, env, "rawequal", charged_by_length, 0);
    lua_pushcfunction(L, safe_tostring); lua_setfield(L, env, "tostring");
    lua_pushcfunction(L, safe_rawlen); lua_setfield(L, env, "rawlen");
    lua_pushcfunction(L, safe_spairs); lua_setfield(L, env, "spairs");
    lua_pushcfunction(L, safe_sha256); lua_setfield(L, env, "sha256");
    lua_pushcfunction(L, safe_hash64); lua_setfield(L, env, "hash64");

    // string
    lua_getfield(L, globals, "string");
    int string = lua_gettop(L);
    lua_newtable(L);
    int safe_string = lua_gettop(L);
    static const char *const plain_string[] = {"len", NULL};
    copy_fields(L, string, safe_string, plain_string);
    wrap_field(L, string, safe_string, "byte", safe_byte, 0);
    wrap_field(L, string, safe_string, "sub", charged_by_length, 0);
    wrap_field(L, string, safe_string, "char", charged_by_arguments, 0);
    wrap_field(L, string, safe_string, "lower", charged_by_length, 0);
    wrap_field(L, string, safe_string, "upper", charged_by_length, 0);
    wrap_field(L, string, safe_string, "reverse", charged_by_length, 0);
    wrap_field(L, string, safe_string, "rep", safe_rep, 0);
    wrap_field(L, string, safe_string, "find", safe_find, 0);
    wrap_field(L, string, safe_string, "format", safe_format, 0);
    lua_pushvalue(L, safe_string);
    lua_setfield(L, env, "string");
    // ("x"):rep(n) goes through the string metatable: point it at the safe table and lock it.
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_pushvalue(L, safe_string);
    lua_setfield(L, -2, "__index");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    // Arithmetic on strings ("10" + 1) goes through these metamethods and strtod, whose work grows with
    // the string's length inside one instruction: policies do arithmetic on numbers only.
    static const char *const string_arithmetic[] = {"__add", "__sub", "__mul", "__div", "__mod", "__pow", "__unm", "__idiv", NULL};
    for (const char *const *name = string_arithmetic; *name; name++) {
        lua_pushnil(L);
        lua_setfield(L, -2, *name);
    }
    lua_pop(L, 3);  // metatable, "", safe_string

    // table
    lua_getfield(L, globals, "table");
    int table = lua_gettop(L);
    lua_newtable(L);
    int safe_table = lua_gettop(L);
    wrap_field(L, table, safe_table, "concat", charged_by_table, 2);
    wrap_field(L, table, safe_table, "insert", charged_by_table, 0);
    wrap_field(L, table, safe_table, "remove", charged_by_table, 0);
    wrap_field(L, table, safe_table, "unpack", charged_by_table, 1);
    lua_pushcfunction(L, safe_sort); lua_setfield(L, safe_table, "sort");
    lua_setfield(L, env, "table");
    lua_pop(L, 1);  // table

    // math
    lua_getfield(L, globals, "math");
    int math = lua_gettop(L);
    lua_newtable(L);
    static const char *const math_fields[] = {"abs", "ceil", "floor", "fmod", "huge", "log", "max", "min", "maxinteger",
        "mininteger", "modf", "pi", "sqrt", "tointeger", "type", "ult", "exp", "random", NULL};
    copy_fields(L, math, lua_gettop(L), math_fields);
    lua_setfield(L, env, "math");
    lua_pop(L, 2);  // math, string
    lua_pop(L, 1);  // globals
    (void)env;
}

// MARK: - Value transport

typedef struct reader { const uint8_t *p; size_t left; int depth; } reader;

static int read_value(lua_State *L, reader *r);

static int read_bytes(reader *r, void *out, size_t n) {
    if (r->left < n) return 0;
    memcpy(out, r->p, n);
    r->p += n;
    r->left -= n;
    return 1;
}

static int read_value(lua_State *L, reader *r) {
    uint8_t tag;
    if (!read_bytes(r, &tag, 1)) return 0;
    if (!lua_checkstack(L, 4) || r->depth > 64) return 0;
    switch (tag) {
        case DSDN_TAG_NIL: lua_pushnil(L); return 1;
        case DSDN_TAG_FALSE: lua_pushboolean(L, 0); return 1;
        case DSDN_TAG_TRUE: lua_pushboolean(L, 1); return 1;
        case DSDN_TAG_INTEGER: { int64_t v; if (!read_bytes(r, &v, 8)) return 0; lua_pushinteger(L, v); return 1; }
        case DSDN_TAG_NUMBER: { double v; if (!read_bytes(r, &v, 8)) return 0; lua_pushnumber(L, v); return 1; }
        case DSDN_TAG_STRING: {
            uint32_t n;
            if (!read_bytes(r, &n, 4) || r->left < n) return 0;
            lua_pushlstring(L, (const char *)r->p, n);
            r->p += n; r->left -= n;
            return 1;
        }
        case DSDN_TAG_ARRAY: {
            uint32_t n;
            if (!read_bytes(r, &n, 4) || n > r->left) return 0;
            lua_createtable(L, (int)n, 0);
            r->depth++;
            for (uint32_t i = 1; i <= n; i++) { if (!read_value(L, r)) return 0; lua_rawseti(L, -2, i); }
            r->depth--;
            return 1;
        }
        case DSDN_TAG_MAP: {
            uint32_t n;
            if (!read_bytes(r, &n, 4) || n > r->left) return 0;
            lua_createtable(L, 0, (int)n);
            r->depth++;
            for (uint32_t i = 0; i < n; i++) {
                if (!read_value(L, r) || !read_value(L, r)) return 0;
                lua_rawset(L, -3);
            }
            r->depth--;
            return 1;
        }
        default: return 0;
    }
}

typedef struct writer { buffer *out; int depth; uint64_t items; const char *error; int seen; int refuse_shared; } writer;

static void write_value(lua_State *L, int index, writer *w);

static void write_table(lua_State *L, int index, writer *w) {
    if (w->depth >= 32) { w->error = "a table is nested deeper than 32 levels"; return; }
    // A table reachable twice (shared or cyclic) would be written once per path: refuse it.
    // Declarations may share tables (written once per path, bounded by the entry cap below).
    if (w->refuse_shared) {
        const void *identity = lua_topointer(L, index);
        if (lua_rawgetp(L, w->seen, identity) != LUA_TNIL) {
            lua_pop(L, 1);
            w->error = "a table appears more than once in the result (shared or cyclic)";
            return;
        }
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
        lua_rawsetp(L, w->seen, identity);
    }
    lua_Integer count = 0, max_integer = 0;
    int only_positive_integers = 1;
    lua_pushnil(L);
    while (lua_next(L, index)) {
        lua_pop(L, 1);
        count++;
        if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1) {
            if (lua_tointeger(L, -1) > max_integer) max_integer = lua_tointeger(L, -1);
        } else {
            only_positive_integers = 0;
        }
    }
    w->items += (uint64_t)count;
    if (w->items > 2000000) { w->error = "a result has more than 2,000,000 entries"; return; }
    w->depth++;
    if (only_positive_integers && max_integer == count && count > 0) {
        buf_u8(w->out, DSDN_TAG_ARRAY);
        buf_u32(w->out, (uint32_t)count);
        for (lua_Integer i = 1; i <= count && !w->error; i++) {
            lua_rawgeti(L, index, i);
            write_value(L, lua_gettop(L), w);
            lua_pop(L, 1);
        }
    } else {
        key_entry *items = malloc(sizeof(key_entry) * (size_t)(count ? count : 1));
        key_entry *scratch = malloc(sizeof(key_entry) * (size_t)(count ? count : 1));
        if (!items || !scratch) { free(items); free(scratch); w->error = "out of host memory"; return; }
        // Keys are anchored in a side table so each can be pushed back by slot.
        lua_createtable(L, (int)count, 0);
        int keys = lua_gettop(L);
        lua_Integer n = 0;
        lua_pushnil(L);
        while (lua_next(L, index)) {
            lua_pop(L, 1);
            key_entry *e = &items[n];
            memset(e, 0, sizeof *e);
            int type = lua_type(L, -1);
            if (type == LUA_TSTRING) { e->is_string = 1; e->s = lua_tolstring(L, -1, &e->len); }
            else if (type == LUA_TNUMBER) {
                e->is_integer = lua_isinteger(L, -1);
                if (e->is_integer) e->integer = lua_tointeger(L, -1); else e->number = lua_tonumber(L, -1);
            } else { w->error = "a table has a key that is neither a number nor a string"; }
            lua_pushvalue(L, -1);
            e->slot = (int)(n + 1);
            lua_rawseti(L, keys, e->slot);
            n++;
        }
        if (!w->error) {
            merge_keys(items, scratch, (size_t)n);
            buf_u8(w->out, DSDN_TAG_MAP);
            buf_u32(w->out, (uint32_t)n);
            for (lua_Integer i = 0; i < n && !w->error; i++) {
                lua_rawgeti(L, keys, items[i].slot);
                write_value(L, lua_gettop(L), w);
                lua_rawget(L, index);
                write_value(L, lua_gettop(L), w);
                lua_pop(L, 1);
            }
        }
        lua_pop(L, 1);  // keys
        free(items);
        free(scratch);
    }
    w->depth--;
}

static void write_value(lua_State *L, int index, writer *w) {
    if (w->error) return;
    if (!lua_checkstack(L, 8)) { w->error = "Lua stack exhausted"; return; }
    switch (lua_type(L, index)) {
        case LUA_TNIL: buf_u8(w->out, DSDN_TAG_NIL); break;
        case LUA_TBOOLEAN: buf_u8(w->out, lua_toboolean(L, index) ? DSDN_TAG_TRUE : DSDN_TAG_FALSE); break;
        case LUA_TNUMBER:
            if (lua_isinteger(L, index)) {
                int64_t v = lua_tointeger(L, index);
                buf_u8(w->out, DSDN_TAG_INTEGER); buf_put(w->out, &v, 8);
            } else {
                double v = lua_tonumber(L, index);
                buf_u8(w->out, DSDN_TAG_NUMBER); buf_put(w->out, &v, 8);
            }
            break;
        case LUA_TSTRING: {
            size_t n;
            const char *s = lua_tolstring(L, index, &n);
            if (n > 0xffffffffu) { w->error = "a string is too long"; return; }
            buf_u8(w->out, DSDN_TAG_STRING); buf_u32(w->out, (uint32_t)n); buf_put(w->out, s, n);
            break;
        }
        case LUA_TTABLE:
            if (is_view(L, index)) {
                lua_pushvalue(L, index);
                see_through(L, lua_gettop(L));
                write_table(L, lua_gettop(L), w);
                lua_pop(L, 1);
            } else {
                write_table(L, index, w);
            }
            break;
        case LUA_TFUNCTION: buf_u8(w->out, DSDN_TAG_FUNCTION); break;
        default: buf_u8(w->out, DSDN_TAG_OTHER); break;
    }
    if (w->out->overflow) {
        w->error = w->refuse_shared ? "the result is larger than the policy's memory budget (a string repeated in it counts each time)"
                                    : "a declaration is larger than 16 MiB";
    }
}

/// lua_dump's writer: appends to a host buffer.
static int dump_writer(lua_State *L, const void *p, size_t size, void *ud) {
    (void)L;
    buffer *b = ud;
    buf_put(b, p, size);
    return b->overflow;
}

/// lua_load's reader over a host buffer: hands it out whole, once.
typedef struct dump_reader { const buffer *source; int done; } dump_reader;

static const char *read_dump(lua_State *L, void *ud, size_t *size) {
    (void)L;
    dump_reader *r = ud;
    if (r->done) { *size = 0; return NULL; }
    r->done = 1;
    *size = r->source->length;
    return (const char *)r->source->bytes;
}

// Protected helpers: run with lua_pcall so an allocation failure never escapes unprotected.
static int protected_export(lua_State *L) {
    dsdn_box *box = lua_touserdata(L, 1);
    int refuse_shared = lua_toboolean(L, 3);
    lua_settop(L, 2);
    lua_newtable(L);  // 3: tables already written
    writer w = {&box->result, 0, 0, NULL, 3, refuse_shared};
    box->result.length = 0;
    box->result.overflow = 0;
    // A decision's result may be no larger than the memory the policy may hold: the host's export,
    // decoding and validation then stay in proportion to the budget, however often a string repeats.
    box->result.limit = refuse_shared ? box->result_limit : (size_t)16 << 20;
    write_value(L, 2, &w);
    if (w.error) { lua_pushstring(L, w.error); return 1; }
    return 0;
}

static int protected_import(lua_State *L) {
    reader *r = lua_touserdata(L, 1);
    if (!read_value(L, r) || r->left != 0) return luaL_error(L, "malformed input from the host");
    return 1;
}

/// Decodes the host's input onto the stack, protected and outside any budget; 0, with the message
/// set, when it cannot.
static int push_input(dsdn_box *box, const uint8_t *input, size_t length) {
    reader r = {input, length, 0};
    lua_pushcfunction(box->L, protected_import);
    lua_pushlightuserdata(box->L, &r);
    if (lua_pcall(box->L, 1, 1, 0) == LUA_OK) return 1;
    lua_pop(box->L, 1);
    set_message(box, "the host's input could not be decoded", 37);
    return 0;
}

// MARK: - The trusted driver

static const char driver_source[] =
    "local invalid, rank, current = ...\n"
    "local type, min, mtype = type, math.min, math.type\n"
    "return function(policy, input)\n"
    "  current.hook, current.node = 'start', nil\n"
    "  local nodes, ctx = input.nodes, input.ctx\n"
    "  -- Everything the host decides is captured before any policy code runs: a hook may rewrite\n"
    "  -- the tables it is given, never the host's view.\n"
    "  local n, want = #nodes, ctx.want\n"
    "  local ids, eligible, reasons = {}, {}, {}\n"
    "  for i = 1, n do\n"
    "    local node = nodes[i]\n"
    "    ids[i], eligible[i] = node.id, node.eligible\n"
    "    if node.status ~= 'active' then reasons[i] = 'status ' .. node.status else reasons[i] = 'already holds chunk' end\n"
    "  end\n"
    "  ctx.nodes = nodes\n"
    "  local filter, score, select = policy.filter, policy.score, policy.select\n"
    "  local verdicts, candidates, scores = {}, {}, {}\n"
    "  for i = 1, n do\n"
    "    local node, id = nodes[i], ids[i]\n"
    "    local verdict = { id = id, passed = false }\n"
    "    verdicts[i] = verdict\n"
    "    if not eligible[i] then\n"
    "      verdict.reason = reasons[i]\n"
    "    else\n"
    "      local ok, reason = true, nil\n"
    "      if filter then\n"
    "        current.hook, current.node = 'filter', id\n"
    "        ok, reason = filter(node, ctx)\n"
    "        if type(ok) ~= 'boolean' then invalid('filter must return a boolean for node ' .. id .. ', got ' .. type(ok)) end\n"
    "        if reason ~= nil and type(reason) ~= 'string' then invalid('filter reason must be a string for node ' .. id .. ', got ' .. type(reason)) end\n"
    "      end\n"
    "      if ok then\n"
    "        current.hook, current.node = 'score', id\n"
    "        local s, terms = score(node, ctx)\n"
    "        if s == 0 and mtype(s) == 'float' then s = 0.0 end\n"
    "        verdict.passed, verdict.score, verdict.terms = true, s, terms\n"
    "        candidates[#candidates + 1] = i\n"
    "        scores[#candidates] = s\n"
    "      else\n"
    "        verdict.reason = reason or 'rejected by filter'\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  current.hook, current.node = 'rank', nil\n"
    "  local order = rank(candidates, scores, ids)\n"
    "  local ranked = {}\n"
    "  for r = 1, #order do\n"
    "    local i = order[r]\n"
    "    verdicts[i].rank = r\n"
    "    nodes[i].score = verdicts[i].score\n"
    "    ranked[r] = nodes[i]\n"
    "  end\n"
    "  local chosen\n"
    "  if select then\n"
    "    current.hook = 'select'\n"
    "    chosen = select(ranked, ctx)\n"
    "    if chosen == nil then invalid('select returned nil: return an array of node ids (an empty table places nothing)') end\n"
    "  else\n"
    "    chosen = {}\n"
    "    for r = 1, min(want, #order) do chosen[r] = ids[order[r]] end\n"
    "  end\n"
    "  current.hook = nil\n"
    "  return { verdicts = verdicts, chosen = chosen }\n"
    "end\n";

static int driver_invalid(lua_State *L) {
    dsdn_box *box = box_of(L);
    size_t length;
    const char *message = luaL_checklstring(L, 1, &length);
    if (box->breach == BREACH_NONE) {
        box->breach = BREACH_INVALID;
        set_message(box, message, length);
    }
    // Final, like a budget breach: every later instruction fails too, so a policy that catches this
    // error (a select calling ctx.candidates() under pcall) cannot run on uncharged.
    lua_sethook(L, hook, LUA_MASKCOUNT, 1);
    return luaL_error(L, "%s", message);
}

/// A candidate's score, kept as Lua holds it: an integer stays an integer, so 2^62 + 1 ranks above 2^62.
typedef struct exact_number { int is_integer; lua_Integer integer; double number; } exact_number;
typedef struct ranked { int is_integer; lua_Integer integer; double number; exact_number tie; const char *id; size_t id_length; int slot; } ranked;

/// a < b, exactly, by Lua's own rules for integers, floats and the two mixed.
static int exact_less(const exact_number *a, const exact_number *b) {
    if (a->is_integer && b->is_integer) return a->integer < b->integer;
    if (a->is_integer) return int_less_float(a->integer, b->number);
    if (b->is_integer) return !int_less_float(b->integer, a->number) && !int_equals_float(b->integer, a->number);
    return a->number < b->number;
}

/// a's score < b's score, exactly.
static int score_less(const ranked *a, const ranked *b) {
    exact_number x = {a->is_integer, a->integer, a->number}, y = {b->is_integer, b->integer, b->number};
    return exact_less(&x, &y);
}

/// Score descending, then the tie-breaker descending (API level 2; 0 when absent), then id ascending.
static int ranked_before(const ranked *a, const ranked *b) {
    if (score_less(b, a)) return 1;
    if (score_less(a, b)) return 0;
    if (exact_less(&b->tie, &a->tie)) return 1;
    if (exact_less(&a->tie, &b->tie)) return 0;
    size_t n = a->id_length < b->id_length ? a->id_length : b->id_length;
    int c = memcmp(a->id, b->id, n);
    return c < 0 || (c == 0 && a->id_length < b->id_length);
}

/// rank(indices, scores, ids): validates every score (a finite number) and returns the candidate
/// indices sorted by score descending, then id ascending bytewise. The ids are the host's, captured by
/// the driver before any hook ran, and stay anchored in its table while this runs.
static int driver_rank(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
    charge(L, (uint64_t)n * 4);
    ranked *items = lua_newuserdatauv(L, sizeof(ranked) * (size_t)(n ? n : 1), 0);
    ranked *scratch = lua_newuserdatauv(L, sizeof(ranked) * (size_t)(n ? n : 1), 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 1, i);
        lua_Integer index = lua_tointeger(L, -1);
        lua_pop(L, 1);
        lua_rawgeti(L, 3, index);
        if (lua_type(L, -1) != LUA_TSTRING) return luaL_error(L, "internal: node ids must be strings");
        items[i - 1].id = lua_tolstring(L, -1, &items[i - 1].id_length);  // anchored by the ids table
        lua_pop(L, 1);
        lua_rawgeti(L, 2, i);
        if (lua_type(L, -1) != LUA_TNUMBER) {
            lua_pushfstring(L, "score must return a number for node %s, got %s", items[i - 1].id, luaL_typename(L, -1));
            lua_replace(L, 1);
            lua_settop(L, 1);
            return driver_invalid(L);
        }
        items[i - 1].is_integer = lua_isinteger(L, -1);
        items[i - 1].integer = items[i - 1].is_integer ? lua_tointeger(L, -1) : 0;
        double score = lua_tonumber(L, -1);
        if (!items[i - 1].is_integer && !isfinite(score)) {
            lua_pushfstring(L, "score must be finite for node %s, got %s", items[i - 1].id, isnan(score) ? "nan" : (score > 0 ? "inf" : "-inf"));
            lua_replace(L, 1);
            lua_settop(L, 1);
            return driver_invalid(L);
        }
        lua_pop(L, 1);
        items[i - 1].number = score == 0 ? 0 : score;  // -0.0 ranks as 0
        items[i - 1].slot = (int)index;
        exact_number tie = {1, 0, 0};
        if (lua_type(L, 4) == LUA_TTABLE && lua_rawgeti(L, 4, i) != LUA_TNIL) {
            if (lua_type(L, -1) != LUA_TNUMBER || (!lua_isinteger(L, -1) && !isfinite(lua_tonumber(L, -1)))) {
                lua_pushfstring(L, "score's third value (the tie-breaker) must be a finite number for node %s, got %s", items[i - 1].id,
                                lua_type(L, -1) == LUA_TNUMBER ? "a non-finite number" : luaL_typename(L, -1));
                lua_replace(L, 1);
                lua_settop(L, 1);
                return driver_invalid(L);
            }
            tie.is_integer = lua_isinteger(L, -1);
            tie.integer = tie.is_integer ? lua_tointeger(L, -1) : 0;
            tie.number = tie.is_integer ? 0 : (lua_tonumber(L, -1) == 0 ? 0 : lua_tonumber(L, -1));
        }
        if (lua_type(L, 4) == LUA_TTABLE) lua_pop(L, 1);
        items[i - 1].tie = tie;
    }
    for (lua_Integer width = 1; width < n; width *= 2) {
        for (lua_Integer lo = 0; lo < n; lo += 2 * width) {
            lua_Integer mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            lua_Integer i = lo, j = mid, k = lo;
            while (i < mid && j < hi) scratch[k++] = ranked_before(&items[j], &items[i]) ? items[j++] : items[i++];
            while (i < mid) scratch[k++] = items[i++];
            while (j < hi) scratch[k++] = items[j++];
        }
        memcpy(items, scratch, sizeof(ranked) * (size_t)n);
    }
    lua_createtable(L, (int)n, 0);
    for (lua_Integer i = 0; i < n; i++) {
        lua_pushinteger(L, items[i].slot);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

// MARK: - The trusted drivers of API level 2

/// prepare(policy, ctx, nodes, ids, statuses): once per snapshot, the chunk-independent verdicts (filter,
/// score) of every node and the ranking of the candidates. `ids` and `statuses` are the host's own.
static const char prepare_source[] =
    "local invalid, rank, current = ...\n"
    "local type, mtype = type, math.type\n"
    "return function(policy, ctx, nodes, ids, statuses)\n"
    "  current.hook, current.node = 'start', nil\n"
    "  local filter, score = policy.filter, policy.score\n"
    "  local verdicts, candidates, scores, ties = {}, {}, {}, {}\n"
    "  for i = 1, #ids do\n"
    "    local id = ids[i]\n"
    "    local verdict = { passed = false }\n"
    "    verdicts[i] = verdict\n"
    "    if statuses[i] ~= 'active' then\n"
    "      verdict.reason = 'status ' .. statuses[i]\n"
    "    else\n"
    "      local ok, reason = true, nil\n"
    "      if filter then\n"
    "        current.hook, current.node = 'filter', id\n"
    "        ok, reason = filter(nodes[i], ctx)\n"
    "        if type(ok) ~= 'boolean' then invalid('filter must return a boolean for node ' .. id .. ', got ' .. type(ok)) end\n"
    "        if reason ~= nil and type(reason) ~= 'string' then invalid('filter reason must be a string for node ' .. id .. ', got ' .. type(reason)) end\n"
    "      end\n"
    "      if ok then\n"
    "        current.hook, current.node = 'score', id\n"
    "        local s, terms, tie = score(nodes[i], ctx)\n"
    "        if s == 0 and mtype(s) == 'float' then s = 0.0 end\n"
    "        verdict.passed, verdict.score, verdict.terms = true, s, terms\n"
    "        candidates[#candidates + 1] = i\n"
    "        scores[#candidates] = s\n"
    "        ties[#candidates] = tie\n"
    "      else\n"
    "        verdict.reason = reason or 'rejected by filter'\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  current.hook, current.node = 'rank', nil\n"
    "  local order = rank(candidates, scores, ids, ties)\n"
    "  for r = 1, #order do verdicts[order[r]].rank = r end\n"
    "  current.hook = nil\n"
    "  return verdicts, order\n"
    "end\n";

/// choose(policy, ctx, nodes, order, ids, index, holders, explain): one chunk. Walks the prepared
/// ranking, asking `admit` (when the policy has it) about each candidate only until `want` are found, or
/// hands `select` an iterator over the admitted candidates. With `explain`, every other candidate is
/// asked afterwards, so the explanation never changes the choice. `policy` is the declaration of this
/// decision's own run of the top level; everything else is the host's.
static const char choose_source[] =
    "local invalid, current = ...\n"
    "local type, format, next, mtype = type, string.format, next, math.type\n"
    "return function(policy, ctx, nodes, order, ids, index, holders, hooks, explain)\n"
    "  current.hook, current.node = 'start', nil\n"
    "  local admit, select = policy.admit, policy.select\n"
    "  if (type(admit) == 'function') ~= hooks.admit or (type(select) == 'function') ~= hooks.select\n"
    "     or (admit ~= nil and type(admit) ~= 'function') or (select ~= nil and type(select) ~= 'function') then\n"
    "    invalid('the top level returned other admit or select hooks than when the policy was loaded: it must return the same declaration every time')\n"
    "  end\n"
    "  local want = ctx.want\n"
    "  local status = {}\n"
    "  local function check(i)\n"
    "    local s = status[i]\n"
    "    if s == nil then\n"
    "      local id = ids[i]\n"
    "      if holders[id] then\n"
    "        s = 'already holds chunk'\n"
    "      elseif admit then\n"
    "        current.hook, current.node = 'admit', id\n"
    "        local ok, reason = admit(nodes[i], ctx)\n"
    "        if type(ok) ~= 'boolean' then invalid('admit must return a boolean for node ' .. id .. ', got ' .. type(ok)) end\n"
    "        if reason ~= nil and type(reason) ~= 'string' then invalid('admit reason must be a string for node ' .. id .. ', got ' .. type(reason)) end\n"
    "        if ok then s = true else s = reason or 'rejected by admit' end\n"
    "      else\n"
    "        s = true\n"
    "      end\n"
    "      status[i] = s\n"
    "    end\n"
    "    return s == true\n"
    "  end\n"
    "  local chosen, count = {}, 0\n"
    "  if select then\n"
    "    ctx.candidates = function()\n"
    "      local r = 0\n"
    "      return function()\n"
    "        while true do\n"
    "          r = r + 1\n"
    "          local i = order[r]\n"
    "          if i == nil then return nil end\n"
    "          local admitted = check(i)\n"
    "          current.hook, current.node = 'select', nil\n"
    "          if admitted then return nodes[i] end\n"
    "        end\n"
    "      end\n"
    "    end\n"
    "    current.hook, current.node = 'select', nil\n"
    "    local picked = select(ctx)\n"
    "    if type(picked) ~= 'table' then invalid('select must return an array of node ids, got ' .. type(picked)) end\n"
    "    local n, keys = #picked, 0\n"
    "    for key in next, picked do\n"
    "      keys = keys + 1\n"
    "      if mtype(key) ~= 'integer' or key < 1 or key > n then keys = -1; break end\n"
    "    end\n"
    "    if keys ~= n then invalid('select must return an array of node ids, got a table that is not a sequence') end\n"
    "    if n > want then invalid('select returned ' .. n .. ' nodes but only ' .. want .. ' are wanted') end\n"
    "    local seen = {}\n"
    "    for k = 1, n do\n"
    "      local id = picked[k]\n"
    "      if type(id) ~= 'string' then invalid('select must return node ids as strings, got ' .. type(id)) end\n"
    "      local i = index[id]\n"
    "      if i == nil then invalid('select returned unknown node id ' .. format('%q', id)) end\n"
    "      if seen[i] then invalid('select returned node ' .. id .. ' twice') end\n"
    "      seen[i] = true\n"
    "      if status[i] ~= true then invalid('select returned node ' .. id .. ' which was not a candidate it was given') end\n"
    "      chosen[k] = id\n"
    "    end\n"
    "  else\n"
    "    local r = 0\n"
    "    while count < want do\n"
    "      r = r + 1\n"
    "      local i = order[r]\n"
    "      if i == nil then break end\n"
    "      if check(i) then count = count + 1; chosen[count] = ids[i] end\n"
    "    end\n"
    "  end\n"
    "  if explain then\n"
    "    for r = 1, #order do check(order[r]) end\n"
    "  end\n"
    "  current.hook = nil\n"
    "  return chosen, status\n"
    "end\n";

// MARK: - Boxes

static void pin_c_locale(void) {
    setlocale(LC_COLLATE, "C");
    setlocale(LC_NUMERIC, "C");
    setlocale(LC_CTYPE, "C");
}

static int setup(lua_State *L) {
    dsdn_box *box = lua_touserdata(L, 1);
    luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
    luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
    luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
    luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
    lua_pop(L, 4);
    // math.randomseed stays reachable only to the host.
    lua_getglobal(L, "math");
    lua_getfield(L, -1, "randomseed");
    box->randomseed_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pop(L, 1);
    // The driver, compiled from host text with the full globals as its environment.
    if (luaL_loadbufferx(L, driver_source, sizeof driver_source - 1, "=driver", "t") != LUA_OK) return lua_error(L);
    lua_pushcfunction(L, driver_invalid);
    lua_pushcfunction(L, driver_rank);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    box->current_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_call(L, 3, 1);
    box->driver_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    push_policy_env(L);
    box->env_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    if (luaL_loadbufferx(L, prepare_source, sizeof prepare_source - 1, "=driver", "t") != LUA_OK) return lua_error(L);
    lua_pushcfunction(L, driver_invalid);
    lua_pushcfunction(L, driver_rank);
    lua_rawgeti(L, LUA_REGISTRYINDEX, box->current_ref);
    lua_call(L, 3, 1);
    box->prepare_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    if (luaL_loadbufferx(L, choose_source, sizeof choose_source - 1, "=driver", "t") != LUA_OK) return lua_error(L);
    lua_pushcfunction(L, driver_invalid);
    lua_rawgeti(L, LUA_REGISTRYINDEX, box->current_ref);
    lua_call(L, 2, 1);
    box->choose_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

/// Gives every recycled block back to the C library (after lua_close).
static void drain_blocks(dsdn_box *box) {
    for (int class = 0; class < DSDN_SMALL_CLASSES; class++) {
        while (box->free_blocks[class]) {
            void *next = *(void **)box->free_blocks[class];
            free(box->free_blocks[class]);
            box->free_blocks[class] = next;
        }
    }
}

dsdn_box *dsdn_box_new(uint32_t hash_seed, const char **failure) {
    // String comparison (strcoll) and number formatting follow the C locale, whatever the process's
    // environment says: otherwise "a" < "B" or tostring(0.5) could differ between machines.
    static pthread_once_t locale_once = PTHREAD_ONCE_INIT;
    pthread_once(&locale_once, pin_c_locale);
    *failure = "cannot create a Lua state (out of memory)";
    dsdn_box *box = calloc(1, sizeof *box);
    if (!box) return NULL;
    box->policy_ref = LUA_NOREF;
    box->chunk_ref = LUA_NOREF;
    box->snapshot_ref = LUA_NOREF;
    box->hash_seed = hash_seed;
    lua_State *L = lua_newstate(box_alloc, box);
    if (!L) { free(box); return NULL; }
    if (!box->seed_written || lua_version(L) != 504) {
        *failure = "this liblua5.4 does not lay out its global state as Lua 5.4.0-5.4.8 do: the sandbox cannot fix its string hash seed";
        lua_close(L);
        drain_blocks(box);
        free(box);
        return NULL;
    }
    box->L = L;
    lua_atpanic(L, panic);
    lua_pushcfunction(L, setup);
    lua_pushlightuserdata(L, box);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        lua_close(L);
        drain_blocks(box);
        free(box);
        return NULL;
    }
    // What liblua5.4 is does not change within a process: its table layout and its string comparisons
    // are checked on the first state only (0: not yet, 1: usable, 2 and 3: why not).
    static _Atomic int library_checked = 0;
    int checked = atomic_load(&library_checked);
    if (checked == 0) {
        checked = !knows_table_layout(L) ? 2 : !sees_string_comparisons(box) ? 3 : 1;
        atomic_store(&library_checked, checked);
        if (checked == 1) {
            // The check left objects in this state: start again from a clean one, so that every box
            // begins from the same heap (its costs would otherwise differ from the next box's).
            lua_close(L);
            drain_blocks(box);
            free(box);
            return dsdn_box_new(hash_seed, failure);
        }
    }
    if (checked != 1) {
        *failure = checked == 2
            ? "this liblua5.4 does not lay out its tables as Lua 5.4.0-5.4.8 do: the sandbox cannot charge walks over them"
            : "liblua5.4's string comparisons do not reach the sandbox's strcoll and memcmp: their work could not be charged";
        lua_close(L);
        drain_blocks(box);
        free(box);
        return NULL;
    }
    *failure = NULL;
    return box;
}

void dsdn_box_free(dsdn_box *box) {
    if (!box) return;
    lua_close(box->L);
    drain_blocks(box);
    free(box->chunk_dump.bytes);
    free(box->result.bytes);
    free(box);
}

static void begin(dsdn_box *box, const dsdn_limits *limits, lua_State *thread) {
    size_t counted = box->live - box->exempt;
    box->running = thread;
    box->breach = BREACH_NONE;
    box->used = 0;
    box->instruction_limit = limits->instructions;
    box->baseline_live = counted;
    box->peak = counted;
    box->live_limit = counted + limits->memory;
    box->total_limit = box->total + limits->total_alloc;
    box->max_alloc = limits->max_alloc;
    box->max_string = limits->max_string;
    box->message_length = 0;
    box->message[0] = 0;
    box->limited = 1;
    box->hooks = 0;
    box->outran = 0;
    box->cpu_allowance_ns = limits->instructions * DSDN_CPU_NS_PER_INSTRUCTION + 50000000u;
    box->cpu_start_ns = thread_cpu_ns();
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    box->run_start_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
    running_box = box;
    lua_sethook(thread, hook, LUA_MASKCOUNT, DSDN_HOOK_STEP);
}

static void end(dsdn_box *box) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    box->run_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec - box->run_start_ns;
    box->limited = 0;
    running_box = NULL;
    box->reported_peak = box->peak > box->baseline_live ? box->peak - box->baseline_live : 0;
    lua_sethook(box->running, NULL, 0, 0);
    box->running = NULL;
}

/// Classifies a failed protected call: the host's flags first, then the error value.
static int classify(dsdn_box *box, int status, const char *phase) {
    lua_State *L = box->L;
    char text[900];
    size_t length = 0;
    const char *message = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &length) : "(error object is not a string)";
    if (length == 0) length = strlen(message);
    snprintf(text, sizeof text, "%.*s", (int)(length > 800 ? 800 : length), message);
    lua_pop(L, 1);
    // Where it happened, from the driver's bookkeeping.
    char where[256] = "";
    if (box->current_ref != LUA_NOREF && strcmp(phase, "decide") == 0) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, box->current_ref);
        lua_getfield(L, -1, "hook");
        lua_getfield(L, -2, "node");
        if (lua_type(L, -2) == LUA_TSTRING) {
            if (lua_type(L, -1) == LUA_TSTRING)
                snprintf(where, sizeof where, "in %s (node %s): ", lua_tostring(L, -2), lua_tostring(L, -1));
            else
                snprintf(where, sizeof where, "in %s: ", lua_tostring(L, -2));
        }
        lua_pop(L, 3);
    } else if (strcmp(phase, "load") == 0) {
        snprintf(where, sizeof where, "at top level: ");
    }
    char full[1024];
    int outcome;
    switch (box->breach) {
        case BREACH_INSTRUCTIONS:
            outcome = DSDN_INSTRUCTIONS;
            if (box->outran)
                snprintf(full, sizeof full,
                         "%sinstruction budget of %llu exhausted: the run used more CPU time than %d ns per budgeted instruction "
                         "(work inside single instructions, such as table keys chosen to collide, that the count cannot see)",
                         where, (unsigned long long)box->instruction_limit, DSDN_CPU_NS_PER_INSTRUCTION);
            else
                snprintf(full, sizeof full, "%sinstruction budget of %llu exhausted", where, (unsigned long long)box->instruction_limit);
            break;
        case BREACH_MEMORY:
            outcome = DSDN_MEMORY;
            snprintf(full, sizeof full, "%smemory budget exhausted (live limit %llu bytes, largest allocation %llu bytes, longest string %llu bytes)", where,
                     (unsigned long long)(box->live_limit - box->baseline_live), (unsigned long long)box->max_alloc,
                     (unsigned long long)box->max_string);
            break;
        case BREACH_INVALID:
            outcome = DSDN_INVALID;
            snprintf(full, sizeof full, "%s%s", where, box->message);
            break;
        default:
            outcome = status == LUA_ERRSYNTAX ? DSDN_SYNTAX : DSDN_RUNTIME;
            snprintf(full, sizeof full, "%s%s", where, text);
    }
    set_message(box, full, strlen(full));
    return outcome;
}

static int export_top(dsdn_box *box, int refuse_shared) {
    lua_State *L = box->L;
    lua_pushcfunction(L, protected_export);
    lua_pushlightuserdata(L, box);
    lua_pushvalue(L, -3);
    lua_pushboolean(L, refuse_shared);
    if (lua_pcall(L, 3, 1, 0) != LUA_OK || !lua_isnil(L, -1)) {
        size_t length = 0;
        const char *message = lua_tolstring(L, -1, &length);
        char text[512];
        snprintf(text, sizeof text, "result cannot be read: %s", message ? message : "unknown error");
        set_message(box, text, strlen(text));
        lua_pop(L, 1);
        return DSDN_INVALID;
    }
    lua_pop(L, 1);
    return DSDN_OK;
}

int dsdn_box_load(dsdn_box *box, const char *source, size_t length, const char *chunkname, const dsdn_limits *limits,
                  int export_declaration) {
    lua_State *L = box->L;
    int base = lua_gettop(L);
    box->result.length = 0;
    // A top level that calls math.random must see the same numbers everywhere: seed it with 0 (a
    // decision reseeds with its own seed), protected and before the budget applies.
    lua_rawgeti(L, LUA_REGISTRYINDEX, box->randomseed_ref);
    lua_pushinteger(L, 0);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        set_message(box, "math.randomseed failed", 22);
        lua_settop(L, base);
        return DSDN_INVALID;
    }
    begin(box, limits, L);
    int status = luaL_loadbufferx(L, source, length, chunkname, "t");  // text only: bytecode can crash Lua
    if (status != LUA_OK) {
        end(box);
        int outcome = classify(box, status, "compile");
        lua_settop(L, base);
        return outcome == DSDN_RUNTIME ? DSDN_SYNTAX : outcome;
    }
    // The chunk's only upvalue is _ENV: give it the sandbox environment instead of the globals.
    lua_rawgeti(L, LUA_REGISTRYINDEX, box->env_ref);
    lua_setupvalue(L, -2, 1);
    // Kept compiled: API level 2 runs the top level again for every decision, in a fresh environment.
    lua_pushvalue(L, -1);
    luaL_unref(L, LUA_REGISTRYINDEX, box->chunk_ref);
    box->chunk_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    box->chunk_dump.length = 0;
    box->chunk_dump.overflow = 0;
    box->chunk_dump.limit = (size_t)64 << 20;
    if (lua_dump(L, dump_writer, &box->chunk_dump, 0) != 0 || box->chunk_dump.overflow) box->chunk_dump.length = 0;
    status = lua_pcall(L, 0, 1, 0);
    end(box);
    if (status != LUA_OK) {
        int outcome = classify(box, status, "load");
        lua_settop(L, base);
        return outcome;
    }
    if (!lua_istable(L, -1)) {
        char text[256];
        snprintf(text, sizeof text, "the policy file must return a table, got %s", luaL_typename(L, -1));
        set_message(box, text, strlen(text));
        lua_settop(L, base);
        return DSDN_INVALID;
    }
    int outcome = export_declaration ? export_top(box, 0) : DSDN_OK;
    if (outcome == DSDN_OK) {
        luaL_unref(L, LUA_REGISTRYINDEX, box->policy_ref);
        box->policy_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    lua_settop(L, base);
    return outcome;
}

/// Clears what the last run left for the host to read.
static void reset_run(dsdn_box *box) {
    box->result.length = 0;
    box->message_length = 0;
    box->used = 0;
    box->reported_peak = 0;
}

int dsdn_box_decide(dsdn_box *box, const uint8_t *input, size_t length, int64_t seed, const dsdn_limits *limits) {
    lua_State *L = box->L;
    int base = lua_gettop(L);
    reset_run(box);
    if (box->policy_ref == LUA_NOREF) {
        set_message(box, "no policy is loaded", 19);
        return DSDN_INVALID;
    }
    // The host's inputs are built protected and outside the policy's budget.
    if (!push_input(box, input, length)) {
        lua_settop(L, base);
        return DSDN_INVALID;
    }
    int input_index = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, box->randomseed_ref);
    lua_pushinteger(L, seed);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        set_message(box, "math.randomseed failed", 22);
        lua_settop(L, base);
        return DSDN_INVALID;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, box->driver_ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, box->policy_ref);
    lua_pushvalue(L, input_index);
    begin(box, limits, L);
    int status = lua_pcall(L, 2, 1, 0);
    end(box);
    if (status != LUA_OK) {
        int outcome = classify(box, status, "decide");
        lua_settop(L, base);
        return outcome;
    }
    box->result_limit = limits->memory < 4096 ? 4096 : (size_t)limits->memory;
    int outcome = export_top(box, 1);
    lua_settop(L, base);
    return outcome;
}

// MARK: - API level 2: a warm state per snapshot

/// Builds the prepared snapshot from the imported input at 1 ({ctx = {params, zones}, nodes = {...}}):
/// the host's ids, statuses and id index, and views of everything a policy will see.
static int protected_snapshot(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "nodes");  // 2
    lua_getfield(L, 1, "ctx");    // 3
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_Integer n = (lua_Integer)lua_rawlen(L, 2);
    lua_createtable(L, 0, 10);            // 4: the snapshot
    lua_createtable(L, (int)n, 0);        // 5: ids
    lua_createtable(L, (int)n, 0);        // 6: statuses
    lua_createtable(L, 0, (int)n);        // 7: id -> index
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 2, i);
        luaL_checktype(L, -1, LUA_TTABLE);
        lua_getfield(L, -1, "id");
        lua_getfield(L, -2, "status");
        luaL_checktype(L, -2, LUA_TSTRING);
        luaL_checktype(L, -1, LUA_TSTRING);
        lua_rawseti(L, 6, i);
        lua_pushvalue(L, -1);
        lua_rawseti(L, 5, i);
        lua_pushinteger(L, i);
        lua_rawset(L, 7);
        lua_pop(L, 1);
    }
    lua_setfield(L, 4, "index");
    lua_setfield(L, 4, "statuses");
    lua_setfield(L, 4, "ids");
    lua_pushvalue(L, 2);
    freeze(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, 4, "nodes");          // 5: the nodes' view stays for ctx
    lua_createtable(L, 0, 3);             // 6: ctx as policies see it in prepare
    lua_getfield(L, 3, "params");
    freeze(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, 4, "params");
    lua_setfield(L, 6, "params");
    lua_getfield(L, 3, "zones");
    freeze(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, 4, "zones");
    lua_setfield(L, 6, "zones");
    lua_pushvalue(L, 5);
    lua_setfield(L, 6, "nodes");
    lua_createtable(L, 0, (int)n);        // 7: id -> node view (the array's elements are views now)
    for (lua_Integer i = 1; i <= n; i++) {
        lua_getfield(L, 4, "ids");
        lua_rawgeti(L, -1, i);
        lua_rawgeti(L, 2, i);
        lua_rawset(L, 7);
        lua_pop(L, 1);
    }
    make_view(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, 4, "nodes_by_id");
    lua_setfield(L, 6, "nodes_by_id");
    make_view(L);
    lua_setfield(L, 4, "ctx");
    // The warm environment. The policy's _ENV is one proxy for the life of the state: its metatable
    // sends reads and writes to the current decision's own globals table, whose metatable reads from
    // a fresh copy of the library with read-only string, table and math. Nothing is rewired inside an
    // old object's upvalue per decision, so each decision's objects stay young and are freed after it.
    lua_settop(L, 4);
    push_policy_env(L);                   // 5: the library
    static const char *const libraries[] = {"string", "table", "math", NULL};
    for (const char *const *name = libraries; *name; name++) {
        lua_getfield(L, 5, *name);
        make_view(L);
        lua_setfield(L, 5, *name);
    }
    lua_pushliteral(L, "");               // ("x"):rep(3) reads the read-only string library
    lua_getmetatable(L, -1);
    lua_getfield(L, 5, "string");
    lua_setfield(L, -2, "__index");
    lua_pop(L, 2);
    lua_createtable(L, 0, 1);             // 6: the globals' metatable
    lua_pushvalue(L, 5);
    lua_setfield(L, 6, "__index");
    lua_setfield(L, 4, "globals_meta");
    lua_pop(L, 1);                        // the library stays reachable through globals_meta
    lua_createtable(L, 0, 0);             // 5: the _ENV proxy
    lua_createtable(L, 0, 2);             // 6: its metatable, pointed at each decision's globals
    lua_pushvalue(L, 6);
    lua_setfield(L, 4, "env_meta");
    lua_setmetatable(L, 5);
    lua_setfield(L, 4, "env");
    lua_settop(L, 4);
    return 1;
}

/// Points the _ENV proxy at a fresh globals table (`fresh`), or at nothing, through the snapshot at
/// `snapshot`. Raises only on allocation failure (call it protected).
static int protected_globals(lua_State *L) {
    int fresh = lua_toboolean(L, 2);
    lua_getfield(L, 1, "env_meta");
    if (fresh) {
        lua_createtable(L, 0, 0);
        lua_getfield(L, 1, "globals_meta");
        lua_setmetatable(L, -2);
    } else {
        lua_pushnil(L);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "__index");
    lua_setfield(L, -2, "__newindex");
    return 0;
}

static int set_globals(dsdn_box *box, int fresh) {
    lua_State *L = box->L;
    lua_pushcfunction(L, protected_globals);
    lua_rawgeti(L, LUA_REGISTRYINDEX, box->snapshot_ref);
    lua_pushboolean(L, fresh);
    int status = lua_pcall(L, 2, 0, 0);
    if (status != LUA_OK) lua_pop(L, 1);
    return status == LUA_OK;
}

static int reseed(dsdn_box *box, int64_t seed) {
    lua_State *L = box->L;
    int limited = box->limited;
    box->limited = 0;
    lua_rawgeti(L, LUA_REGISTRYINDEX, box->randomseed_ref);
    lua_pushinteger(L, seed);
    int status = lua_pcall(L, 1, 0, 0);
    if (status != LUA_OK) lua_pop(L, 1);
    box->limited = limited;
    return status == LUA_OK;
}


int dsdn_box_prepare(dsdn_box *box, const uint8_t *input, size_t length, int64_t seed, const dsdn_limits *limits) {
    lua_State *L = box->L;
    int base = lua_gettop(L);
    reset_run(box);
    if (box->policy_ref == LUA_NOREF || box->chunk_ref == LUA_NOREF) {
        set_message(box, "no policy is loaded", 19);
        return DSDN_INVALID;
    }
    if (box->snapshot_ref != LUA_NOREF) {
        set_message(box, "this state already holds a snapshot", 35);
        return DSDN_INVALID;
    }
    if (!push_input(box, input, length)) {
        lua_settop(L, base);
        return DSDN_INVALID;
    }
    lua_pushcfunction(L, protected_snapshot);
    lua_insert(L, -2);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        set_message(box, "the host's snapshot is malformed", 32);
        lua_settop(L, base);
        return DSDN_INVALID;
    }
    int snapshot = lua_gettop(L);
    // The hooks the loaded declaration has: every decision's run of the top level must return the same.
    lua_createtable(L, 0, 2);
    lua_rawgeti(L, LUA_REGISTRYINDEX, box->policy_ref);
    lua_getfield(L, -1, "admit");
    lua_pushboolean(L, lua_type(L, -1) == LUA_TFUNCTION);
    lua_setfield(L, -4, "admit");
    lua_getfield(L, -2, "select");
    lua_pushboolean(L, lua_type(L, -1) == LUA_TFUNCTION);
    lua_setfield(L, -5, "select");
    lua_pop(L, 3);
    lua_setfield(L, snapshot, "hooks");
    // From here the policy's _ENV is the proxy: the loaded hooks share the chunk's _ENV upvalue.
    lua_rawgeti(L, LUA_REGISTRYINDEX, box->chunk_ref);
    lua_getfield(L, snapshot, "env");
    lua_setupvalue(L, -2, 1);
    lua_pop(L, 1);
    lua_pushvalue(L, snapshot);
    box->snapshot_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    if (!set_globals(box, 1) || !reseed(box, seed)) {
        set_message(box, "the sandbox could not set up the snapshot", 41);
        lua_settop(L, base);
        return DSDN_INVALID;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, box->prepare_ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, box->policy_ref);
    lua_getfield(L, snapshot, "ctx");
    lua_getfield(L, snapshot, "nodes");
    lua_getfield(L, snapshot, "ids");
    lua_getfield(L, snapshot, "statuses");
    begin(box, limits, L);
    int status = lua_pcall(L, 5, 2, 0);
    end(box);
    if (status != LUA_OK) {
        int outcome = classify(box, status, "decide");
        lua_settop(L, base);
        return outcome;
    }
    lua_setfield(L, snapshot, "order");  // leaves the verdicts on top
    box->result_limit = limits->memory < 4096 ? 4096 : (size_t)limits->memory;
    int outcome = export_top(box, 1);
    lua_settop(L, base);
    if (outcome != DSDN_OK || !set_globals(box, 0)) return outcome != DSDN_OK ? outcome : DSDN_INVALID;
    // Every decision starts from this heap: a full collection now and, with the collector paused while
    // policy code runs, a minor one after each decision that frees everything the decision made.
    box->prepared = 1;
    lua_gc(L, LUA_GCGEN, 0, 0);
    lua_gc(L, LUA_GCSTOP);
    return DSDN_OK;
}

/// The ctx and holders of one decision, from the chunk input at 2 and the snapshot at 3, with fresh
/// globals behind the _ENV proxy. Returns ctx, holders.
static int protected_decision(lua_State *L) {
    int64_t seed = lua_tointeger(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_pushcfunction(L, protected_globals);
    lua_pushvalue(L, 3);
    lua_pushboolean(L, 1);
    lua_call(L, 2, 0);
    lua_createtable(L, 0, 8);             // 4: ctx
    lua_getfield(L, 2, "chunk");
    luaL_checktype(L, -1, LUA_TTABLE);
    lua_setfield(L, 4, "chunk");
    lua_getfield(L, 2, "want");
    luaL_checktype(L, -1, LUA_TNUMBER);
    lua_setfield(L, 4, "want");
    lua_pushinteger(L, seed);
    lua_setfield(L, 4, "seed");
    static const char *const shared[] = {"params", "zones", "nodes", "nodes_by_id", NULL};
    for (const char *const *name = shared; *name; name++) {
        lua_getfield(L, 3, *name);
        lua_setfield(L, 4, *name);
    }
    lua_createtable(L, 0, 4);             // 5: holders, captured before any policy code runs
    lua_getfield(L, 2, "chunk");
    lua_getfield(L, -1, "holders");
    luaL_checktype(L, -1, LUA_TTABLE);
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        luaL_checktype(L, -1, LUA_TSTRING);
        lua_pushboolean(L, 1);
        lua_rawset(L, 5);
    }
    lua_pop(L, 2);
    return 2;
}

/// Ends a decision: its globals are unhooked and everything it made is freed (a minor collection)
/// before the next one starts.
static int finish_choice(dsdn_box *box, int base, int outcome) {
    lua_settop(box->L, base);
    if (!set_globals(box, 0)) outcome = DSDN_INVALID;
    // A memory breach may have run an emergency collection, which ages what was live then: after any
    // failure a full collection (rare) frees everything the decision made, old or young.
    lua_gc(box->L, outcome == DSDN_OK ? LUA_GCSTEP : LUA_GCCOLLECT, 0);
    return outcome;
}

int dsdn_box_choose(dsdn_box *box, const uint8_t *input, size_t length, int64_t seed, const dsdn_limits *limits, int explain) {
    lua_State *L = box->L;
    int base = lua_gettop(L);
    reset_run(box);
    if (!box->prepared) {
        set_message(box, "no snapshot is prepared", 23);
        return DSDN_INVALID;
    }
    lua_pushcfunction(L, protected_decision);
    lua_pushinteger(L, seed);
    if (!push_input(box, input, length)) return finish_choice(box, base, DSDN_INVALID);
    lua_rawgeti(L, LUA_REGISTRYINDEX, box->snapshot_ref);
    if (lua_pcall(L, 3, 2, 0) != LUA_OK) {
        set_message(box, "the host's chunk input is malformed", 35);
        return finish_choice(box, base, DSDN_INVALID);
    }
    int ctx = base + 1, holders = base + 2;
    lua_rawgeti(L, LUA_REGISTRYINDEX, box->snapshot_ref);
    int snapshot = lua_gettop(L);
    // The decision runs on a thread of its own: its stack and call frames start empty every time.
    // Stack room is made now: nothing below may allocate outside a protected call.
    lua_State *T = lua_newthread(L);
    if (!lua_checkstack(L, 16) || !lua_checkstack(T, 16)) {
        set_message(box, "out of memory", 13);
        return finish_choice(box, base, DSDN_INVALID);
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, box->current_ref);
    lua_pushliteral(L, "top level");
    lua_setfield(L, -2, "hook");
    lua_pushnil(L);
    lua_setfield(L, -2, "node");
    lua_pop(L, 1);
    // A closure of its own for this decision's run of the top level: a hook that assigns _ENV changes
    // only this decision's upvalue, which dies with it.
    dump_reader reader = {&box->chunk_dump, 0};
    if (box->chunk_dump.length == 0 || lua_load(L, read_dump, &reader, "=policy", "b") != LUA_OK) {
        set_message(box, "the compiled policy could not be loaded again", 45);
        return finish_choice(box, base, DSDN_INVALID);
    }
    lua_getfield(L, snapshot, "env");
    lua_setupvalue(L, -2, 1);
    lua_xmove(L, T, 1);
    if (!reseed(box, 0)) {
        set_message(box, "math.randomseed failed", 22);
        return finish_choice(box, base, DSDN_INVALID);
    }
    begin(box, limits, T);
    int status = lua_pcall(T, 0, 1, 0);
    const char *refusal = NULL;
    if (status == LUA_OK && !lua_istable(T, -1)) refusal = "at top level: the policy file must return a table";
    else if (status == LUA_OK && !reseed(box, seed)) refusal = "math.randomseed failed";
    if (refusal) {
        end(box);
        set_message(box, refusal, strlen(refusal));
        return finish_choice(box, base, DSDN_INVALID);
    }
    if (status == LUA_OK) {
        lua_rawgeti(T, LUA_REGISTRYINDEX, box->choose_ref);
        lua_insert(T, -2);
        lua_pushvalue(L, ctx);
        lua_getfield(L, snapshot, "nodes");
        lua_getfield(L, snapshot, "order");
        lua_getfield(L, snapshot, "ids");
        lua_getfield(L, snapshot, "index");
        lua_pushvalue(L, holders);
        lua_getfield(L, snapshot, "hooks");
        lua_xmove(L, T, 7);
        lua_pushboolean(T, explain);
        status = lua_pcall(T, 9, 2, 0);
    }
    end(box);
    if (status != LUA_OK) {
        lua_xmove(T, L, 1);
        int outcome = classify(box, status, "decide");
        return finish_choice(box, base, outcome);
    }
    lua_createtable(L, 0, 2);
    lua_xmove(T, L, 2);                  // chosen, status
    if (explain) lua_setfield(L, -3, "status"); else lua_pop(L, 1);
    lua_setfield(L, -2, "chosen");
    box->result_limit = limits->memory < 4096 ? 4096 : (size_t)limits->memory;
    int outcome = export_top(box, 1);
    return finish_choice(box, base, outcome);
}

const uint8_t *dsdn_box_result(const dsdn_box *box, size_t *length) {
    *length = box->result.length;
    return box->result.bytes;
}

const char *dsdn_box_message(const dsdn_box *box, size_t *length) {
    *length = box->message_length;
    return box->message;
}

uint64_t dsdn_box_instructions(const dsdn_box *box) { return box->used; }

uint64_t dsdn_box_peak_memory(const dsdn_box *box) { return box->reported_peak; }

uint64_t dsdn_box_live_bytes(const dsdn_box *box) { return box->live; }

uint64_t dsdn_box_run_nanoseconds(const dsdn_box *box) { return box->run_ns; }

const char *dsdn_lua_release(void) { return LUA_RELEASE; }

// MARK: - Threads with a large stack

typedef struct thread_job { void (*body)(void *); void *context; } thread_job;

static void *thread_main(void *argument) {
    thread_job *job = argument;
    job->body(job->context);
    return NULL;
}

int dsdn_run_with_stack(size_t stack_bytes, void (*body)(void *), void *context) {
    pthread_attr_t attributes;
    pthread_t thread;
    thread_job job = {body, context};
    int error = pthread_attr_init(&attributes);
    if (error) return error;
    error = pthread_attr_setstacksize(&attributes, stack_bytes);
    if (!error) error = pthread_create(&thread, &attributes, thread_main, &job);
    pthread_attr_destroy(&attributes);
    if (error) return error;
    return pthread_join(thread, NULL);
}
