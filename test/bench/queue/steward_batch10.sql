-- (3) batches of 10: claim 10, complete 10 (one script run = 10 jobs), in
-- their own queue (setup.sql)
SELECT array_agg(id) AS ids, array_agg(lease_token) AS toks FROM steward.dequeue('bench_batch', 'w', 10) \gset
SELECT steward.complete_batch(:ids, :toks);
