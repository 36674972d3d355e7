// The shared library's identity (PG_MODULE_MAGIC) and _PG_init, which runs
// every feature's registered initialiser in name order.
#include "boundary/postgres.hpp"
#include "module.hpp"

extern "C" {
#include "utils/guc.h"
}

// The version this library was built as (default_version of
// pg_steward.control, passed by the Makefile and CMakeLists.txt).
#ifndef STEWARD_VERSION
#error "STEWARD_VERSION must be defined by the build"
#endif

extern "C" {
PG_MODULE_MAGIC;
__attribute__((visibility("default"))) void _PG_init(void);
}

namespace steward {
namespace {

struct InitEntry {
    const char *name;
    ModuleInitFn fn;
};

constexpr int kMaxInits = 32;
InitEntry g_inits[kMaxInits];  // zero-initialised: no constructor runs
int g_init_count = 0;
bool g_loaded_at_startup = false;
char *g_library_version = nullptr;  // steward.library_version

}  // namespace

ModuleInitRegistrar::ModuleInitRegistrar(const char *name, ModuleInitFn fn) noexcept {
    if (g_init_count < kMaxInits) g_inits[g_init_count] = InitEntry{name, fn};
    ++g_init_count;  // counts past the end so _PG_init can refuse to start
}

bool LoadedAtStartup() noexcept { return g_loaded_at_startup; }

}  // namespace steward

void _PG_init(void) {
    using steward::g_init_count;
    using steward::g_inits;
    if (g_init_count > steward::kMaxInits)
        elog(ERROR, "pg_steward: too many module initialisers");
    steward::g_loaded_at_startup = process_shared_preload_libraries_in_progress;
    // Registration order depends on link order; run in name order instead.
    for (int i = 1; i < g_init_count; ++i)
        for (int j = i; j > 0 && strcmp(g_inits[j - 1].name, g_inits[j].name) > 0; --j)
            std::swap(g_inits[j - 1], g_inits[j]);
    for (int i = 0; i < g_init_count; ++i) g_inits[i].fn();
    // Read-only: which library this session runs; health() compares it
    // with the installed SQL and the files on disk. A setting rather than a
    // C function: the upgrade script that brings that check runs while an
    // older library may still be loaded, and must not declare a C function
    // the older library lacks.
    DefineCustomStringVariable("steward.library_version", "Version of the pg_steward library this session runs.",
                               nullptr, &steward::g_library_version, STEWARD_VERSION, PGC_INTERNAL,
                               GUC_NOT_IN_SAMPLE | GUC_DISALLOW_IN_FILE, nullptr, nullptr, nullptr);
}
