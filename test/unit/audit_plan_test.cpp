// Unit tests for the audit trail's pure logic (src/core/audit_plan.*).
#include "core/audit_plan.hpp"

#include <gtest/gtest.h>

namespace {

using namespace steward::audit_plan;

TEST(AuditPlan, DayOfRoundsTowardsMinusInfinity) {
    EXPECT_EQ(DayOf(0), 0);
    EXPECT_EQ(DayOf(kUsecsPerDay - 1), 0);
    EXPECT_EQ(DayOf(kUsecsPerDay), 1);
    EXPECT_EQ(DayOf(-1), -1);
    EXPECT_EQ(DayOf(-kUsecsPerDay), -1);
    EXPECT_EQ(DayOf(-kUsecsPerDay - 1), -2);
}

TEST(AuditPlan, DateOfDay) {
    CivilDate d = DateOfDay(0);
    EXPECT_EQ(d.year, 2000);
    EXPECT_EQ(d.month, 1u);
    EXPECT_EQ(d.day, 1u);
    d = DateOfDay(59);  // leap day 2000
    EXPECT_EQ(d.month, 2u);
    EXPECT_EQ(d.day, 29u);
    d = DateOfDay(-1);
    EXPECT_EQ(d.year, 1999);
    EXPECT_EQ(d.month, 12u);
    EXPECT_EQ(d.day, 31u);
    d = DateOfDay(9823);  // 2026-11-23
    EXPECT_EQ(d.year, 2026);
    EXPECT_EQ(d.month, 11u);
    EXPECT_EQ(d.day, 23u);
    d = DateOfDay(36524);  // 2099-12-31 (2100 is not a leap year)
    EXPECT_EQ(d.year, 2099);
    EXPECT_EQ(d.month, 12u);
    EXPECT_EQ(d.day, 31u);
}

TEST(AuditPlan, PartitionName) {
    char buf[32];
    ASSERT_TRUE(PartitionName(9823, buf, sizeof buf));
    EXPECT_STREQ(buf, "audit_records_p20261123");
    EXPECT_FALSE(PartitionName(9823, buf, 10));           // too small
    EXPECT_FALSE(PartitionName(-800000, buf, sizeof buf));  // year < 1000
}

TEST(AuditPlan, MergePositions) {
    int16_t a[] = {1, 3};
    int16_t b[] = {2, 3, 7};
    int16_t out[5];
    ASSERT_EQ(MergePositions(a, 2, b, 3, out), 4);
    EXPECT_EQ(out[0], 1);
    EXPECT_EQ(out[1], 2);
    EXPECT_EQ(out[2], 3);
    EXPECT_EQ(out[3], 7);
    EXPECT_EQ(MergePositions(a, 0, b, 0, out), 0);
    EXPECT_EQ(MergePositions(a, 2, b, 0, out), 2);
}

}  // namespace
