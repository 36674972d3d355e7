// The C++ <-> PostgreSQL error boundary. Read docs/architecture.md first.
//
// Two directions, one rule each:
//
//  1. A C++ exception never unwinds into PostgreSQL frames. Every
//     SQL-callable function is declared with STEWARD_FUNCTION(name), which
//     emits the extern "C" entry point and runs the C++ body inside
//     steward::boundary::Invoke(). Invoke catches everything, copies what it
//     needs into fixed buffers (no allocation inside a catch block), leaves
//     the catch block and only then raises the PostgreSQL error.
//
//  2. A PostgreSQL error never longjmps over a C++ frame that owns a
//     non-trivial destructor. Code that holds RAII objects calls PostgreSQL
//     through steward::PgCall(fn): it runs fn under PG_TRY, turns an error
//     into a steward::PgError exception (carrying the original ErrorData,
//     SQLSTATE, detail and hint), and lets normal C++ unwinding run the
//     destructors. Invoke re-raises the original error unchanged.
//     Hot paths (triggers, dequeue) hold only plain data and call
//     PostgreSQL directly: a longjmp over them skips nothing.
#pragma once

#include "boundary/postgres.hpp"
#include "core/sql_error.hpp"

#include <type_traits>

extern "C" {
#include "utils/elog.h"
#include "utils/memutils.h"
}

namespace steward {

// A PostgreSQL error converted to a C++ exception by PgCall(). Owns a copy of
// the ErrorData (allocated in the memory context that was current when the
// error was caught; that is the caller's context, not ErrorContext).
class PgError final : public std::exception {
  public:
    explicit PgError(ErrorData *edata) noexcept : edata_(edata) {}
    PgError(PgError &&other) noexcept : edata_(std::exchange(other.edata_, nullptr)) {}
    PgError(const PgError &) = delete;
    PgError &operator=(const PgError &) = delete;
    ~PgError() override = default;  // edata lives in a memory context
    const char *what() const noexcept override {
        return edata_ && edata_->message ? edata_->message : "PostgreSQL error";
    }
    ErrorData *release() noexcept { return std::exchange(edata_, nullptr); }

  private:
    ErrorData *edata_;
};

namespace detail {
// Runs call(arg) under PG_TRY; on a PostgreSQL error restores the caller's
// memory context, copies and flushes the error and throws PgError.
void RunUnderPgTry(void (*call)(void *), void *arg);
}  // namespace detail

// Run fn() (a PostgreSQL call) so that an ereport(ERROR) inside it becomes a
// PgError thrown from here, after PostgreSQL's error state has been copied
// and flushed. The frames between PG_TRY and the failing call must be plain
// C (or C++ without destructors): that is what fn should contain. A result
// must be plain data (it is produced under sigsetjmp).
template <typename Fn>
auto PgCall(Fn &&fn) -> decltype(fn()) {
    using Result = decltype(fn());
    if constexpr (std::is_void_v<Result>) {
        using F = std::remove_reference_t<Fn>;
        detail::RunUnderPgTry([](void *f) { (*static_cast<F *>(f))(); }, &fn);
    } else {
        static_assert(std::is_trivially_copyable_v<Result>, "PgCall results must be plain data");
        Result result{};
        auto call = [&fn, &result] { result = fn(); };
        detail::RunUnderPgTry([](void *c) { (*static_cast<decltype(call) *>(c))(); }, &call);
        return result;
    }
}

namespace boundary {

// What an exception leaves behind once its catch block has ended: plain data
// in fixed buffers, so capturing it never allocates (an allocation failure
// inside a catch block would longjmp out of it).
struct Captured {
    enum class Kind { kPostgres, kSql, kOutOfMemory, kStd, kUnknown } kind;
    ErrorData *edata;        // kPostgres: the original error
    char sqlstate[6];        // kSql
    char message[1024];
    char detail[1024];
    char hint[512];
};

// Fill `out` from the exception being handled. Call only inside a catch.
void CaptureCurrentException(Captured &out) noexcept;

// Raise the PostgreSQL error for a captured exception. Call only outside
// any catch block. Never returns.
[[noreturn]] void Raise(const Captured &captured, const char *function_name);

// Call body(fcinfo) so that no C++ exception escapes into PostgreSQL.
template <typename Body>
inline Datum Invoke(const char *function_name, Body body, FunctionCallInfo fcinfo) {
    Captured captured;
    try {
        return body(fcinfo);
    } catch (...) {
        CaptureCurrentException(captured);
    }
    Raise(captured, function_name);
}

}  // namespace boundary
}  // namespace steward

// Declare a SQL-callable function. Usage:
//
//   STEWARD_FUNCTION(steward_enqueue) {
//       ... C++ body, may use PG_GETARG_* / PG_RETURN_* on fcinfo ...
//   }
//
// emits `extern "C" Datum steward_enqueue(PG_FUNCTION_ARGS)` plus its
// PG_FUNCTION_INFO_V1 record, exported with default visibility.
#define STEWARD_FUNCTION(name)                                                   \
    static Datum name##_body(FunctionCallInfo fcinfo);                          \
    extern "C" {                                                                 \
    PG_FUNCTION_INFO_V1(name);                                                   \
    __attribute__((visibility("default"))) Datum name(PG_FUNCTION_ARGS) {        \
        return steward::boundary::Invoke(#name, name##_body, fcinfo);           \
    }                                                                            \
    }                                                                            \
    static Datum name##_body([[maybe_unused]] FunctionCallInfo fcinfo)
