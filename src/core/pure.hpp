// src/core/ holds pure C++: no PostgreSQL headers, so the unit tests build it
// without the server's include path. A core translation unit defines
// STEWARD_CORE_TRANSLATION_UNIT before its includes; if PostgreSQL headers
// sneak into one, this stops the build. (PostgreSQL-facing files may include
// core headers freely.)
#pragma once
#if defined(STEWARD_CORE_TRANSLATION_UNIT) && \
    (defined(STEWARD_HAS_POSTGRES_H) || defined(PG_VERSION_NUM))
#error "src/core/ must not depend on PostgreSQL headers"
#endif
