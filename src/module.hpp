// Module start-up: each feature registers what _PG_init must run for it
// (GUCs, hooks, callbacks) with STEWARD_MODULE_INIT, in its own file, so no
// central list has to be edited when a feature is added.
#pragma once

namespace steward {

using ModuleInitFn = void (*)();

// Registers fn to run from _PG_init. Used only through STEWARD_MODULE_INIT,
// at static-initialisation time; touches nothing but a fixed array.
class ModuleInitRegistrar {
  public:
    ModuleInitRegistrar(const char *name, ModuleInitFn fn) noexcept;
};

// True while _PG_init runs because of shared_preload_libraries.
bool LoadedAtStartup() noexcept;

}  // namespace steward

#define STEWARD_MODULE_INIT(name, fn) \
    static const steward::ModuleInitRegistrar steward_module_init_##name(#name, fn)
