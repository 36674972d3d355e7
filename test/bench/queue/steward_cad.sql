-- (2) one round trip per job: complete the previous job and claim the next
\if :id = 0
SELECT id, lease_token AS tok FROM steward.dequeue('bench', 'w') \gset
\else
SELECT id, lease_token AS tok FROM steward.complete_and_dequeue(:id, :tok, worker => 'w') \gset
\endif
