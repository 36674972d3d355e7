// The error boundary's non-template half: capturing an in-flight C++
// exception into plain data, and raising it as a PostgreSQL error.
#include "boundary/boundary.hpp"

#include <cstdio>

namespace steward::detail {

void RunUnderPgTry(void (*call)(void *), void *arg) {
    MemoryContext caller_cxt = CurrentMemoryContext;
    ErrorData *volatile edata = nullptr;
    PG_TRY();
    { call(arg); }
    PG_CATCH();
    {
        MemoryContextSwitchTo(caller_cxt);
        edata = CopyErrorData();
        FlushErrorState();
    }
    PG_END_TRY();
    if (edata != nullptr) throw PgError(edata);
}

}  // namespace steward::detail

namespace steward::boundary {
namespace {

void CopyText(char *dst, std::size_t size, const char *src) noexcept {
    if (src == nullptr) src = "";
    std::size_t n = std::strlen(src);
    if (n >= size) n = size - 1;
    std::memcpy(dst, src, n);
    dst[n] = '\0';
}

}  // namespace

void CaptureCurrentException(Captured &out) noexcept {
    out.edata = nullptr;
    out.sqlstate[0] = '\0';
    out.message[0] = out.detail[0] = out.hint[0] = '\0';
    try {
        throw;  // cppcheck-suppress rethrowNoCurrentException ; only called inside a catch
    } catch (PgError &e) {
        out.kind = Captured::Kind::kPostgres;
        out.edata = e.release();
    } catch (const SqlError &e) {
        out.kind = Captured::Kind::kSql;
        CopyText(out.sqlstate, sizeof out.sqlstate, e.sqlstate());
        CopyText(out.message, sizeof out.message, e.what());
        CopyText(out.detail, sizeof out.detail, e.detail().c_str());
        CopyText(out.hint, sizeof out.hint, e.hint().c_str());
    } catch (const std::bad_alloc &) {
        out.kind = Captured::Kind::kOutOfMemory;
    } catch (const std::exception &e) {
        out.kind = Captured::Kind::kStd;
        CopyText(out.message, sizeof out.message, e.what());
    } catch (...) {
        out.kind = Captured::Kind::kUnknown;
    }
}

void Raise(const Captured &c, const char *function_name) {
    switch (c.kind) {
        case Captured::Kind::kPostgres:
            ReThrowError(c.edata);  // original SQLSTATE, detail, hint, context
        case Captured::Kind::kSql:
            ereport(ERROR,
                    (errcode(MAKE_SQLSTATE(c.sqlstate[0], c.sqlstate[1], c.sqlstate[2],
                                           c.sqlstate[3], c.sqlstate[4])),
                     errmsg_internal("%s", c.message),
                     c.detail[0] ? errdetail_internal("%s", c.detail) : 0,
                     c.hint[0] ? errhint("%s", c.hint) : 0));
            break;
        case Captured::Kind::kOutOfMemory:
            ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory"),
                            errdetail("A C++ allocation failed in %s.", function_name)));
            break;
        case Captured::Kind::kStd:
            ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
                            errmsg("unexpected C++ exception in %s: %s", function_name, c.message)));
            break;
        case Captured::Kind::kUnknown:
            break;
    }
    ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
                    errmsg("unexpected C++ exception of unknown type in %s", function_name)));
    pg_unreachable();
}

}  // namespace steward::boundary
