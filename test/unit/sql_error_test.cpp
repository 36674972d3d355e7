// Unit tests for steward::SqlError (src/core/sql_error.*).
#include "core/sql_error.hpp"

#include <gtest/gtest.h>

namespace {

TEST(SqlError, KeepsAllFields) {
    steward::SqlError e("22023", "invalid value", "The detail.", "The hint.");
    EXPECT_STREQ(e.sqlstate(), "22023");
    EXPECT_STREQ(e.what(), "invalid value");
    EXPECT_EQ(e.detail(), "The detail.");
    EXPECT_EQ(e.hint(), "The hint.");
}

TEST(SqlError, ValidatesSqlState) {
    EXPECT_TRUE(steward::SqlError::IsValidSqlState("P0001"));
    EXPECT_TRUE(steward::SqlError::IsValidSqlState("55P03"));
    EXPECT_FALSE(steward::SqlError::IsValidSqlState("2202"));     // too short
    EXPECT_FALSE(steward::SqlError::IsValidSqlState("220233"));   // too long
    EXPECT_FALSE(steward::SqlError::IsValidSqlState("22a23"));    // lower case
    EXPECT_FALSE(steward::SqlError::IsValidSqlState(nullptr));
}

TEST(SqlError, InvalidSqlStateBecomesInternalError) {
    steward::SqlError e("bad", "message");
    EXPECT_STREQ(e.sqlstate(), "XX000");
}

TEST(SqlError, IsAStdException) {
    try {
        throw steward::SqlError("42P01", "relation \"x\" does not exist");
    } catch (const std::exception &e) {
        EXPECT_STREQ(e.what(), "relation \"x\" does not exist");
        return;
    }
    FAIL() << "not caught as std::exception";
}

}  // namespace
