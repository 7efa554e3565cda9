// The Lua policy sandbox, in C: everything that can raise a Lua error (longjmp) lives here, so that no
// Lua error ever unwinds through a Swift frame. Swift talks to it through this small API and a tagged
// binary value format (see "Value transport" below).
#ifndef DSDN_SANDBOX_H
#define DSDN_SANDBOX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Budgets of one load or call, all functions of the policy version, never of the machine.
typedef struct dsdn_limits {
    uint64_t instructions;  ///< Lua VM instructions, counted in steps of DSDN_HOOK_STEP, plus charged C work.
    uint64_t memory;        ///< live bytes above the baseline taken when the policy starts running
    uint64_t total_alloc;   ///< cumulative bytes allocated above the baseline
    uint64_t max_alloc;     ///< the largest single allocation (caps one table part)
    uint64_t max_string;    ///< the longest string a policy may create, in bytes
} dsdn_limits;

/// How a load or a call ended. The host decides from its own flags, never from the error value a
/// script could catch or forge.
typedef enum dsdn_outcome {
    DSDN_OK = 0,
    DSDN_SYNTAX = 1,        ///< the source did not compile (or was not text)
    DSDN_RUNTIME = 2,       ///< a Lua error raised by the policy
    DSDN_INSTRUCTIONS = 3,  ///< the instruction budget ran out
    DSDN_MEMORY = 4,        ///< a memory budget ran out
    DSDN_INVALID = 5,       ///< the policy returned something the host cannot accept
} dsdn_outcome;

/// The granularity of instruction counting.
#define DSDN_HOOK_STEP 100

/// One sandboxed lua_State with the deterministic library and the trusted driver loaded.
/// Not thread-safe: one thread at a time.
typedef struct dsdn_box dsdn_box;

/// The string hash seed of every production state (see dsdn_box_new).
#define DSDN_HASH_SEED 0x6473646eu

/// Creates a box whose Lua state hashes strings with `hash_seed` instead of Lua's per-process random
/// seed, so that table layouts (and with them `#` on tables with holes, rehash points and memory peaks)
/// are functions of what the policy does. NULL with `*failure` set when the state cannot be allocated
/// or this liblua5.4's internal layout is not the one the seed is written into.
dsdn_box *dsdn_box_new(uint32_t hash_seed, const char **failure);
/// Closes the state and frees the box.
void dsdn_box_free(dsdn_box *box);

/// Compiles `source` in text mode, runs its top level under `limits`, and keeps the table it returns as
/// the policy. With `export_declaration`, on DSDN_OK the result buffer holds the exported policy table
/// (functions as tag FUNCTION; at most 16 MiB).
int dsdn_box_load(dsdn_box *box, const char *source, size_t length, const char *chunkname, const dsdn_limits *limits,
                  int export_declaration);

/// Runs one decision: decodes `input` (a MAP with "ctx" and "nodes"), seeds math.random with `seed`,
/// calls the driver under `limits`, and exports its result into the result buffer.
int dsdn_box_decide(dsdn_box *box, const uint8_t *input, size_t length, int64_t seed, const dsdn_limits *limits);

/// API level 2, once per box after dsdn_box_load: imports a snapshot (a MAP with "ctx" = {params, zones}
/// and "nodes"), shown to the policy through read-only views, and runs the chunk-independent hooks
/// (filter, score) on every node under `limits`. The result buffer holds one verdict per node; the
/// ranking stays in the state. From here the state is warm: see dsdn_box_choose.
int dsdn_box_prepare(dsdn_box *box, const uint8_t *input, size_t length, int64_t seed, const dsdn_limits *limits);

/// API level 2: one decision against the prepared snapshot. `input` is a MAP with "chunk" and "want".
/// The top level runs again in a fresh environment on a fresh thread, so nothing one decision writes
/// reaches the next; the collector is paused while it runs and frees its objects afterwards. The result
/// is {chosen = ids} and, with `explain`, status = {[node index] = true or the reason it was passed over}.
int dsdn_box_choose(dsdn_box *box, const uint8_t *input, size_t length, int64_t seed, const dsdn_limits *limits, int explain);

/// The encoded result of the last successful load or decide.
const uint8_t *dsdn_box_result(const dsdn_box *box, size_t *length);
/// The message of the last failure (NUL-terminated, also sized).
const char *dsdn_box_message(const dsdn_box *box, size_t *length);
/// Instructions used by the last load or decide (VM steps plus charged work).
uint64_t dsdn_box_instructions(const dsdn_box *box);
/// Peak live bytes above the baseline during the last load or decide.
uint64_t dsdn_box_peak_memory(const dsdn_box *box);
/// Bytes the state holds now (everything Lua allocated and has not freed).
uint64_t dsdn_box_live_bytes(const dsdn_box *box);
/// Wall time of the last load, decide, prepare or choose while policy code ran (under its budget),
/// in nanoseconds: what a benchmark compares with a bare interpreter. Never an input to an outcome.
uint64_t dsdn_box_run_nanoseconds(const dsdn_box *box);

/* The Lua release this sandbox was built against, e.g. "Lua 5.4.4". */
const char *dsdn_lua_release(void);

/// A SHA-256 implementation: the digest of `data` (`length` bytes) into `out` (32 bytes).
typedef void (*dsdn_sha256_fn)(const uint8_t *data, size_t length, uint8_t *out);
/// Registers the SHA-256 the policies' sha256/hash64 use. The host (LuaSandbox) registers swift-crypto's
/// once, before the first state is created; a policy hashing before that raises an error.
void dsdn_set_sha256(dsdn_sha256_fn fn);

/// Runs `body(context)` on a new thread with `stack_bytes` of stack and waits for it (Lua's C recursion
/// needs more stack than some runtime threads have). Returns 0, or an errno value if no thread started.
int dsdn_run_with_stack(size_t stack_bytes, void (*body)(void *), void *context);

// Value transport: a tree, little-endian, as written by the host and by dsdn_box_result.
#define DSDN_TAG_NIL 0
#define DSDN_TAG_FALSE 1
#define DSDN_TAG_TRUE 2
#define DSDN_TAG_INTEGER 3   // int64
#define DSDN_TAG_NUMBER 4    // IEEE double
#define DSDN_TAG_STRING 5    // u32 length, bytes
#define DSDN_TAG_ARRAY 6     // u32 count, values (a Lua sequence 1..n)
#define DSDN_TAG_MAP 7       // u32 count, (key, value) pairs; keys sorted: numbers ascending, then strings bytewise
#define DSDN_TAG_FUNCTION 8  // export only
#define DSDN_TAG_OTHER 9     // export only (userdata, thread)

#ifdef __cplusplus
}
#endif
#endif
