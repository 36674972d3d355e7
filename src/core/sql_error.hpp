// steward::SqlError: the C++ exception that C++ code throws to report a
// user-facing error. The boundary turns it into ereport(ERROR) with exactly
// this SQLSTATE, message, detail and hint (PostgreSQL's error style: message
// in lower case without a final period; detail and hint are sentences).
#pragma once
#include "core/pure.hpp"

#include <stdexcept>
#include <string>

namespace steward {

class SqlError : public std::runtime_error {
  public:
    // sqlstate: five characters from [0-9A-Z], e.g. "22023". An invalid code
    // is replaced by XX000 (internal_error) rather than trusted.
    SqlError(const char *sqlstate, std::string message, std::string detail = {},
             std::string hint = {});

    const char *sqlstate() const noexcept { return sqlstate_; }
    const std::string &detail() const noexcept { return detail_; }
    const std::string &hint() const noexcept { return hint_; }

    static bool IsValidSqlState(const char *code) noexcept;

  private:
    char sqlstate_[6];
    std::string detail_;
    std::string hint_;
};

}  // namespace steward
