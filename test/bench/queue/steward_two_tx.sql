-- (1) steward.dequeue, then steward.complete in a second transaction
SELECT id, lease_token AS tok FROM steward.dequeue('bench', 'w') \gset
SELECT steward.complete(:id, :tok);
