// Writes belong on the primary. See primary.cpp.
#pragma once

namespace steward {

// Raise "cannot <action> on a standby server" (SQLSTATE 25006, naming the
// primary as the place to run it) when this server is in recovery; return
// at once otherwise. Plain data only: safe to call from any frame.
void RequirePrimary(const char *action);

}  // namespace steward
