#define STEWARD_CORE_TRANSLATION_UNIT
#include "core/sql_error.hpp"

#include <cstring>

namespace steward {

bool SqlError::IsValidSqlState(const char *code) noexcept {
    if (code == nullptr) return false;
    for (int i = 0; i < 5; ++i) {
        char c = code[i];
        bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
        if (!ok) return false;
    }
    return code[5] == '\0';
}

SqlError::SqlError(const char *sqlstate, std::string message, std::string detail,
                   std::string hint)
    : std::runtime_error(std::move(message)), detail_(std::move(detail)), hint_(std::move(hint)) {
    std::memcpy(sqlstate_, IsValidSqlState(sqlstate) ? sqlstate : "XX000", 6);
}

}  // namespace steward
