-- a rollout to a version that migrates data backs each store up first (decision 13, 14)
-- backup_id: the backup the rollout asked for before upgrading the store (while it is not
-- completed, the store is 'upgrading' with no generation yet); restore_id: the restore of that
-- backup once the store's release was rolled back (the store stays 'rolling_back' until it
-- completed).
alter table rollout_stores add column backup_id uuid references backups(backup_id);
alter table rollout_stores add column restore_id uuid references restores(restore_id);
