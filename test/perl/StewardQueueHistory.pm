# The queue history's partitions and their indexes, for the TAP tests that
# check them (003_extension_update, 031_queue_dump).
#
#   use StewardQueueHistory;
#   $node->safe_psql($db, StewardQueueHistory::partition_indexes_sql);
#   # 'btree (id), btree (queue_id, finished_at)' when every partition has
#   # exactly those; one line per distinct set otherwise ('no index' for a
#   # partition without any)
package StewardQueueHistory;

use strict;
use warnings;

# each partition's indexes as "method (columns)", sorted and joined; the
# distinct such lines over all partitions of steward._job_history
sub partition_indexes_sql {
    return q{
    SELECT string_agg(DISTINCT coalesce((SELECT string_agg(d.def, ', ' ORDER BY d.def)
                                           FROM pg_index x, regexp_replace(pg_get_indexdef(x.indexrelid), '^.* USING ', '') d(def)
                                          WHERE x.indrelid = i.inhrelid), 'no index'), E'\n')
      FROM pg_inherits i WHERE i.inhparent = 'steward._job_history'::regclass};
}

1;
