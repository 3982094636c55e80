-- fleet rollouts of a store chart version (decision 13)
-- observed_generation: the generation a store last converged to (ready or suspended), as the
-- lifecycle consumer reads it from store-status: a rollout's health gate.
alter table stores add column observed_generation bigint not null default 0;

-- Each engine's chart version for new stores: the catalogue's default when the engine is first
-- seen; a rollout moves it to its target once its canary passed. A new build's catalogue
-- default does not move it (a rollout does), so no store gets an untried version by itself.
create table chart_defaults (
    engine text primary key,
    version text not null,
    updated_at timestamptz not null default now()
);

-- A rollout: the stores its selector matched when it started, each in a wave (0 the canary
-- when there is one), moved to target_version as a new generation of their desired state.
-- state: running, paused (by an admin), halted (its failure budget spent), aborted (no new
-- upgrades; those under way finish), done. One rollout per engine is not over at a time.
create table rollouts (
    rollout_id uuid primary key,
    engine text not null,
    target_version text not null,
    previous_version text not null,
    request jsonb not null,
    state text not null check (state in ('running', 'paused', 'halted', 'aborted', 'done')),
    wave int not null default 0,
    waves int not null,
    has_canary boolean not null,
    canary_passed boolean not null default false,
    reason text,
    created_by text not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create unique index rollouts_one_per_engine on rollouts (engine)
    where state in ('running', 'paused', 'halted');

-- state: pending, upgrading (its generation sent), upgraded (Ready at it), failed (its gate
-- failed), rolling_back (the previous version sent as a newer generation), rolled_back,
-- skipped (deleted, or already at the target).
create table rollout_stores (
    rollout_id uuid not null references rollouts on delete cascade,
    store_id uuid not null,
    position int not null,
    wave int not null,
    state text not null check (state in ('pending', 'upgrading', 'upgraded', 'failed',
                                          'rolling_back', 'rolled_back', 'skipped')),
    from_version text,
    generation bigint,
    started_at timestamptz,
    finished_at timestamptz,
    reason text,
    primary key (rollout_id, store_id)
);
create index rollout_stores_by_wave on rollout_stores (rollout_id, wave, state, position);
