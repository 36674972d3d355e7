# pg_steward, built with PGXS:  make && make install
# The source list is the tree itself (src/*.cpp, src/*/*.cpp; extension/*.sql);
# CMakeLists.txt reads the same globs from sources.mk, so there is one list.
EXTENSION   = pg_steward
EXTVERSION := $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" pg_steward.control)
MODULE_big  = pg_steward

include sources.mk
OBJS        = $(STEWARD_SOURCES:.cpp=.o)
DATA_built  = pg_steward--$(EXTVERSION).sql
# Earlier releases' scripts (frozen: never edited once released) and the
# upgrade scripts between versions; see docs/architecture.md, "Versions".
DATA        = $(wildcard extension/releases/pg_steward--*.sql) \
              $(wildcard extension/upgrades/pg_steward--*--*.sql)

PG_CONFIG  ?= pg_config
PG_INCLUDE := $(shell $(PG_CONFIG) --includedir-server)
# PostgreSQL headers are system headers (GCC ignores the -I PGXS adds for the
# same directory), so -Wall -Wextra report our code only.
PG_CPPFLAGS = -isystem $(PG_INCLUDE) -I$(srcdir)/src -DSTEWARD_VERSION='"$(EXTVERSION)"'
PG_CXXFLAGS = -std=c++17 -fno-strict-aliasing -fwrapv -Wall -Wextra -Wno-missing-field-initializers
SHLIB_LINK  = -lstdc++

# No LLVM bitcode, on purpose. Debian's PostgreSQL is built with_llvm=yes, so
# PGXS would compile every .cpp a second time with clang into bitcode for JIT
# inlining. Our entry points are C++ with exception handling (the error
# boundary); inlining them into JIT-compiled expressions would put C++
# unwinding tables into code the JIT emits without them. Nothing here is a
# candidate for expression inlining anyway (triggers and set-returning calls).
override with_llvm = no

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(OBJS): $(wildcard src/*.hpp src/*/*.hpp)
src/module.o: pg_steward.control  # STEWARD_VERSION

pg_steward--$(EXTVERSION).sql: $(STEWARD_SQL) pg_steward.control
	cat $(STEWARD_SQL) > $@

# The whole suite on a throwaway server (see test/run.sh).
.PHONY: test unit
test:
	bash test/run.sh

unit:
	bash test/run.sh unit
