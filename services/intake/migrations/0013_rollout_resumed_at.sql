-- when a halted rollout was last resumed (decision 13)
-- Its failure budget counts the failures since then: the ones that halted it were seen by the
-- admin who resumed it, so a resume goes on instead of halting again at once.
alter table rollouts add column resumed_at timestamptz;
