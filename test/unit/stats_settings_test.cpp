// Unit tests for the stats thresholds table, the classification rule and
// the catalog scans' arithmetic and schema rule (src/core/stats_settings.*).
#include "core/stats_settings.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace {

using steward::stats::Classify;
using steward::stats::CompareShares;
using steward::stats::IsUserSchemaName;
using steward::stats::PercentHundredths;
using steward::stats::Status;

TEST(StatsSchemas, UserSchemasOnly) {
    EXPECT_TRUE(IsUserSchemaName("public"));
    EXPECT_TRUE(IsUserSchemaName("steward"));
    EXPECT_TRUE(IsUserSchemaName("app_pg_toast"));
    EXPECT_TRUE(IsUserSchemaName("pg"));
    EXPECT_TRUE(IsUserSchemaName("pg_temp"));  // not pg_temp_N: an ordinary name
    EXPECT_FALSE(IsUserSchemaName("pg_catalog"));
    EXPECT_FALSE(IsUserSchemaName("information_schema"));
    EXPECT_FALSE(IsUserSchemaName("pg_toast"));
    EXPECT_FALSE(IsUserSchemaName("pg_temp_3"));
    EXPECT_FALSE(IsUserSchemaName("pg_toast_temp_3"));
}

TEST(StatsPercent, RoundsLikeNumericRound) {
    EXPECT_EQ(PercentHundredths(2040109465, 2147483647), 9500);  // 94.99999...
    EXPECT_EQ(PercentHundredths(32700, 32767), 9980);            // 99.7955
    EXPECT_EQ(PercentHundredths(1073741824, 2147483647), 5000);
    EXPECT_EQ(PercentHundredths(1, 20000), 1);     // 0.005 rounds half up
    EXPECT_EQ(PercentHundredths(1, 20001), 0);
    EXPECT_EQ(PercentHundredths(-50, -100), 5000);  // descending sequences
    EXPECT_EQ(PercentHundredths(-1, -20000), 1);
    EXPECT_EQ(PercentHundredths(100, 100), 10000);
}

TEST(StatsPercent, OtherSignOrNothingIsZero) {
    EXPECT_EQ(PercentHundredths(0, 100), 0);
    EXPECT_EQ(PercentHundredths(5, 0), 0);
    EXPECT_EQ(PercentHundredths(-5, 100), 0);
    EXPECT_EQ(PercentHundredths(5, -100), 0);
}

TEST(StatsPercent, ExtremeValuesDoNotOverflow) {
    const std::int64_t max = INT64_MAX;
    EXPECT_EQ(PercentHundredths(max, max), 10000);
    EXPECT_EQ(PercentHundredths(max / 2, max), 5000);
    EXPECT_EQ(PercentHundredths(INT64_MIN, INT64_MIN), 10000);
    EXPECT_EQ(PercentHundredths(9223372036854775000LL, max), 10000);
}

TEST(StatsShares, ComparesExactly) {
    EXPECT_GT(CompareShares(600, 2000, 1, 10), 0);  // 30% > 10%
    EXPECT_EQ(CompareShares(1, 3, 2, 6), 0);
    EXPECT_LT(CompareShares(INT64_MAX - 1, INT64_MAX, INT64_MAX, INT64_MAX), 0);
    EXPECT_EQ(CompareShares(0, 5, 0, 7), 0);
}

TEST(StatsClassify, HigherIsWorse) {
    EXPECT_EQ(Classify(50.0, 80.0, 95.0), Status::kOk);
    EXPECT_EQ(Classify(80.0, 80.0, 95.0), Status::kOk);  // at the threshold: not beyond it
    EXPECT_EQ(Classify(80.5, 80.0, 95.0), Status::kWarning);
    EXPECT_EQ(Classify(95.0, 80.0, 95.0), Status::kWarning);
    EXPECT_EQ(Classify(96.0, 80.0, 95.0), Status::kCritical);
}

TEST(StatsClassify, LowerIsWorseWhenWarningAboveCritical) {
    EXPECT_EQ(Classify(99.5, 99.0, 95.0), Status::kOk);
    EXPECT_EQ(Classify(99.0, 99.0, 95.0), Status::kOk);
    EXPECT_EQ(Classify(98.0, 99.0, 95.0), Status::kWarning);
    EXPECT_EQ(Classify(90.0, 99.0, 95.0), Status::kCritical);
}

TEST(StatsClassify, MissingValuesAndThresholds) {
    EXPECT_EQ(Classify(std::nullopt, 1.0, 2.0), Status::kOk);
    EXPECT_EQ(Classify(5.0, std::nullopt, std::nullopt), Status::kOk);
    EXPECT_EQ(Classify(1.0, 0.0, std::nullopt), Status::kWarning);  // a count check
    EXPECT_EQ(Classify(0.0, 0.0, std::nullopt), Status::kOk);
    EXPECT_EQ(Classify(3.0, std::nullopt, 2.0), Status::kCritical);
}

TEST(StatsClassify, EqualThresholdsJumpToCritical) {
    EXPECT_EQ(Classify(2.0, 1.0, 1.0), Status::kCritical);
    EXPECT_EQ(Classify(1.0, 1.0, 1.0), Status::kOk);
}

TEST(StatsClassify, StatusNames) {
    EXPECT_STREQ(steward::stats::StatusName(Status::kOk), "ok");
    EXPECT_STREQ(steward::stats::StatusName(Status::kWarning), "warning");
    EXPECT_STREQ(steward::stats::StatusName(Status::kCritical), "critical");
}

// The GUC table: sorted unique steward.* names, defaults within bounds, and
// every warning/critical pair ordered so Classify picks the right direction.
TEST(StatsSettings, TableIsConsistent) {
    std::size_t n = 0;
    const auto *s = steward::stats::ThresholdSettings(&n);
    ASSERT_GT(n, 10u);
    for (std::size_t i = 0; i < n; ++i) {
        SCOPED_TRACE(s[i].name);
        EXPECT_EQ(std::strncmp(s[i].name, "steward.", 8), 0);
        EXPECT_GE(s[i].default_value, s[i].min_value);
        EXPECT_LE(s[i].default_value, s[i].max_value);
        if (i > 0) {
            EXPECT_LT(std::strcmp(s[i - 1].name, s[i].name), 0);
        }
    }
    auto find = [&](const std::string &name) -> const steward::stats::ThresholdSetting * {
        for (std::size_t i = 0; i < n; ++i)
            if (name == s[i].name) return &s[i];
        return nullptr;
    };
    int pairs = 0;
    for (std::size_t i = 0; i < n; ++i) {
        std::string name = s[i].name;
        const std::string suffix = "_warning";
        if (name.size() <= suffix.size() ||
            name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
            continue;
        const auto *crit = find(name.substr(0, name.size() - suffix.size()) + "_critical");
        ASSERT_NE(crit, nullptr) << name;
        ++pairs;
        if (name == "steward.cache_hit_warning") {
            EXPECT_GT(s[i].default_value, crit->default_value);  // lower is worse
        } else {
            EXPECT_LT(s[i].default_value, crit->default_value) << name;
        }
    }
    EXPECT_EQ(pairs, 10);
}

}  // namespace
