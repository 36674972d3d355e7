// Unit tests for the soft delete path decision (src/core/soft_delete_path.*).
#include "core/soft_delete_path.hpp"

#include <gtest/gtest.h>

namespace {

using steward::soft_delete::ChooseDeletePath;
using steward::soft_delete::DeletePath;
using steward::soft_delete::DeletePathName;
using steward::soft_delete::DeleteTriggerFacts;
using steward::soft_delete::TableFacts;

const DeleteTriggerFacts kOurs{true, 1, false};

TableFacts Plain(const DeleteTriggerFacts *triggers, std::size_t count) {
    return TableFacts{true, false, false, triggers, count, true, true, false};
}

TEST(SoftDeletePath, RewritesAPlainEnabledTable) {
    EXPECT_EQ(ChooseDeletePath(Plain(&kOurs, 1)), DeletePath::kRewrite);
}

TEST(SoftDeletePath, LeavesTablesWithoutOurTriggerAlone) {
    EXPECT_EQ(ChooseDeletePath(Plain(nullptr, 0)), DeletePath::kNotEnabled);
    DeleteTriggerFacts other{false, 0, false};
    EXPECT_EQ(ChooseDeletePath(Plain(&other, 1)), DeletePath::kNotEnabled);
}

TEST(SoftDeletePath, AnEarlierTriggerKeepsTheTriggerPath) {
    DeleteTriggerFacts two[] = {{false, 0, false}, kOurs};
    EXPECT_EQ(ChooseDeletePath(Plain(two, 2)), DeletePath::kEarlierTrigger);
    DeleteTriggerFacts later[] = {kOurs, {false, 0, false}};  // never fires: ours returns NULL first
    EXPECT_EQ(ChooseDeletePath(Plain(later, 2)), DeletePath::kRewrite);
}

TEST(SoftDeletePath, UnusualTriggers) {
    DeleteTriggerFacts when{true, 1, true};
    EXPECT_EQ(ChooseDeletePath(Plain(&when, 1)), DeletePath::kUnusualTrigger);
    DeleteTriggerFacts noargs{true, 0, false};
    EXPECT_EQ(ChooseDeletePath(Plain(&noargs, 1)), DeletePath::kUnusualTrigger);
}

TEST(SoftDeletePath, TableShapes) {
    TableFacts f = Plain(&kOurs, 1);
    f.table_or_partitioned = false;
    EXPECT_EQ(ChooseDeletePath(f), DeletePath::kNotATable);
    f = Plain(&kOurs, 1);
    f.plain_inheritance_children = true;
    EXPECT_EQ(ChooseDeletePath(f), DeletePath::kInheritance);
    f = Plain(&kOurs, 1);
    f.row_security_in_force = true;
    EXPECT_EQ(ChooseDeletePath(f), DeletePath::kRowSecurity);
}

TEST(SoftDeletePath, ColumnProblemsAreLeftToTheTrigger) {
    TableFacts f = Plain(&kOurs, 1);
    f.column_found = false;
    EXPECT_EQ(ChooseDeletePath(f), DeletePath::kColumn);
    f = Plain(&kOurs, 1);
    f.column_is_timestamptz = false;  // e.g. a domain over timestamptz
    EXPECT_EQ(ChooseDeletePath(f), DeletePath::kColumn);
    f = Plain(&kOurs, 1);
    f.column_generated = true;
    EXPECT_EQ(ChooseDeletePath(f), DeletePath::kColumn);
}

TEST(SoftDeletePath, EveryPathHasAName) {
    for (int p = 0; p <= static_cast<int>(DeletePath::kColumn); ++p)
        EXPECT_STRNE(DeletePathName(static_cast<DeletePath>(p)), "unknown");
}

}  // namespace
