// The one way pg_steward's C++ files include PostgreSQL.
//
// PostgreSQL 15's headers have no extern "C" guards and define macros that
// collide with the C++ standard library (snprintf, Max, foreach, ERROR, ...).
// Every standard header a PostgreSQL-facing file needs is included here
// *before* postgres.h, so their declarations are parsed untouched; afterwards
// the PostgreSQL macros are in force. Files that must stay free of PostgreSQL
// (src/core/) never include this header and refuse to compile if it was.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <string_view>
#include <utility>

extern "C" {
#include "postgres.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
}

#define STEWARD_HAS_POSTGRES_H 1
