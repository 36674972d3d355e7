// See soft_delete_path.hpp.
#define STEWARD_CORE_TRANSLATION_UNIT 1
#include "core/soft_delete_path.hpp"

namespace steward::soft_delete {

DeletePath ChooseDeletePath(const TableFacts &f) noexcept {
    // Find our trigger first: without it there is nothing to rewrite.
    const DeleteTriggerFacts *ours = nullptr;
    std::size_t position = 0;
    for (std::size_t i = 0; i < f.trigger_count && f.triggers != nullptr; ++i) {
        if (f.triggers[i].ours) {
            ours = &f.triggers[i];
            position = i;
            break;
        }
    }
    if (ours == nullptr) return DeletePath::kNotEnabled;
    if (!f.table_or_partitioned) return DeletePath::kNotATable;
    // Children without the trigger would lose their rows in the trigger path.
    if (f.plain_inheritance_children) return DeletePath::kInheritance;
    // The trigger path's UPDATE meets UPDATE policies; leave RLS to it.
    if (f.row_security_in_force) return DeletePath::kRowSecurity;
    // Triggers fire in name order: one before ours sees the DELETE only in
    // the trigger path.
    if (position > 0) return DeletePath::kEarlierTrigger;
    if (ours->nargs != 1 || ours->has_when) return DeletePath::kUnusualTrigger;
    if (!f.column_found || !f.column_is_timestamptz || f.column_generated)
        return DeletePath::kColumn;
    return DeletePath::kRewrite;
}

const char *DeletePathName(DeletePath path) noexcept {
    switch (path) {
        case DeletePath::kRewrite: return "rewrite";
        case DeletePath::kNotEnabled: return "not enabled";
        case DeletePath::kNotATable: return "not a table";
        case DeletePath::kInheritance: return "plain inheritance";
        case DeletePath::kRowSecurity: return "row security";
        case DeletePath::kEarlierTrigger: return "earlier trigger";
        case DeletePath::kUnusualTrigger: return "unusual trigger";
        case DeletePath::kColumn: return "column";
    }
    return "unknown";
}

}  // namespace steward::soft_delete
