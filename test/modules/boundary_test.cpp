// Probes for the error boundary (src/boundary/), loaded only by the tests
// (sql/boundary.sql). Each function provokes one failure mode.
#include "boundary/boundary.hpp"

#include <stdexcept>
#include <vector>

extern "C" {
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
PG_MODULE_MAGIC;
}

namespace {

int g_live = 0;  // Tracker objects constructed and not yet destroyed

struct Tracker {
    Tracker() { ++g_live; }
    Tracker(const Tracker &) { ++g_live; }
    ~Tracker() { --g_live; }
};

}  // namespace

// throw_cpp(kind): raise a C++ exception of the given kind.
STEWARD_FUNCTION(steward_test_throw_cpp) {
    std::string kind = text_to_cstring(PG_GETARG_TEXT_PP(0));
    Tracker guard;
    if (kind == "runtime") throw std::runtime_error("boom from C++");
    if (kind == "sql")
        throw steward::SqlError("22023", "invalid probe value \"x\"",
                                "The probe was asked to fail.", "Pass another value.");
    if (kind == "bad_sqlstate") throw steward::SqlError("22\x01" "23", "bad code");
    if (kind == "bad_alloc") throw std::bad_alloc();
    if (kind == "unknown") throw 42;
    if (kind == "long") throw std::runtime_error(std::string(5000, 'x'));
    PG_RETURN_TEXT_P(cstring_to_text("no exception"));
}

// pg_error_under_raii(divisor): C++ frames own objects while PostgreSQL
// raises an error (division by zero when divisor = 0) through PgCall.
STEWARD_FUNCTION(steward_test_pg_error_under_raii) {
    int32 divisor = PG_GETARG_INT32(0);
    std::vector<Tracker> owned(3);
    std::string label(100, 'y');
    Datum result = steward::PgCall([divisor] {
        return DirectFunctionCall2(int4div, Int32GetDatum(100), Int32GetDatum(divisor));
    });
    PG_RETURN_DATUM(result);
}

// pg_error_void(): PgCall around a void call that raises.
STEWARD_FUNCTION(steward_test_pg_error_void) {
    Tracker guard;
    steward::PgCall([] {
        ereport(ERROR, (errcode(ERRCODE_CHECK_VIOLATION), errmsg("probe check failed"),
                        errdetail("Raised by PostgreSQL under C++."), errhint("Expected.")));
    });
    PG_RETURN_VOID();
}

// live_objects(): Tracker objects currently alive (0 unless something leaked).
STEWARD_FUNCTION(steward_test_live_objects) { PG_RETURN_INT32(g_live); }
