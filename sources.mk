# The one source list, shared by Makefile (included) and CMakeLists.txt
# (which reads the two lines below). Globs, so adding a file needs no edit.
STEWARD_SOURCES := $(sort $(wildcard src/*.cpp src/*/*.cpp))
STEWARD_SQL := $(sort $(wildcard extension/[0-9]*.sql))
