import { act, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { ReactNode } from 'react';
import { describe, expect, it } from 'vitest';
import type { Rollout, RolloutCounts, RolloutProgress } from '../lib/api';
import { LiveContext } from '../lib/live-context';
import { fakeApi, json, problem } from '../test/fake-api';
import { applyProgress, DATA_LOSS_WARNING, RolloutDetail, RolloutList } from './Rollouts';

const ID = '11111111-1111-4111-8111-111111111111';

function counts(patch: Partial<RolloutCounts> = {}): RolloutCounts {
  return { pending: 0, upgrading: 0, upgraded: 0, failed: 0, rolling_back: 0, rolled_back: 0, skipped: 0, ...patch };
}

function rollout(patch: Partial<Rollout> = {}): Rollout {
  return {
    id: ID,
    engine: 'woocommerce',
    target_version: '0.2.0',
    previous_version: '0.1.0',
    state: 'running',
    wave: 0,
    waves: 2,
    has_canary: true,
    canary_passed: false,
    reason: null,
    stores: 6,
    counts: counts({ pending: 4, upgrading: 2 }),
    wave_counts: [
      { ...counts({ upgrading: 2 }), wave: 0 },
      { ...counts({ pending: 4 }), wave: 1 },
    ],
    failures: [],
    selector: { tenants: ['acme'], plans: [], store_ids: [] },
    strategy: { canary: 2, waves: [100], max_in_flight: 5, ready_within_seconds: 600, max_failed: 1, max_failed_percent: 10 },
    on_halt: 'rollback',
    migrates_data: false,
    created_by: 'token:admin',
    created_at: '2026-12-07T18:00:00Z',
    updated_at: '2026-12-07T18:00:00Z',
    ...patch,
  };
}

function progress(patch: Partial<RolloutProgress> = {}): RolloutProgress {
  const { selector: _s, strategy: _t, on_halt: _o, migrates_data: _m, created_by: _c, created_at: _a, previous_version: _p, has_canary: _h, ...rest } =
    rollout();
  return { ...rest, failures: [], ...patch } as RolloutProgress;
}

function withLive(ui: ReactNode, mode: 'live' | 'polling' = 'live') {
  const listeners = new Set<(r: RolloutProgress) => void>();
  const value = {
    mode,
    generation: 0,
    subscribe: () => () => {},
    subscribeRollouts: (l: (r: RolloutProgress) => void) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
  };
  const view = render(<LiveContext.Provider value={value}>{ui}</LiveContext.Provider>);
  return { ...view, push: (r: RolloutProgress) => act(() => listeners.forEach((l) => l(r))) };
}

const bar = (name: RegExp) => screen.getByRole('img', { name });

describe('RolloutDetail', () => {
  it('shows waves, progress bars and failures, and changes them live from the stream', async () => {
    const { api, calls } = fakeApi({ [`GET /api/v1/admin/rollouts/${ID}`]: () => json(200, rollout()) });
    const { push } = withLive(<RolloutDetail api={api} id={ID} />);
    expect(await screen.findByRole('heading', { level: 1, name: /Rollout of/ })).toHaveTextContent('Rollout of woocommerce to 0.2.0 Running');
    expect(bar(/^All stores: 6 stores: 2 upgrading, 4 pending$/)).toBeInTheDocument();
    expect(bar(/^Canary: 2 stores: 2 upgrading$/)).toBeInTheDocument();
    expect(bar(/^Wave 1: 4 stores: 4 pending$/)).toBeInTheDocument();
    expect(screen.getByText('No store failed.')).toBeInTheDocument();
    expect(screen.queryByRole('note')).not.toBeInTheDocument(); // no data-migrating version

    push(
      progress({
        state: 'halted',
        reason: 'halted: 1 of 2 stores of wave 0 failed',
        counts: counts({ pending: 4, upgraded: 1, rolling_back: 1 }),
        wave_counts: [
          { ...counts({ upgraded: 1, rolling_back: 1 }), wave: 0 },
          { ...counts({ pending: 4 }), wave: 1 },
        ],
        failures: [{ store_id: 'store-9', wave: 0, state: 'rolling_back', reason: 'not Ready within 600 s', from_version: '0.1.0' }],
      }),
    );
    expect(await screen.findByRole('heading', { level: 1 })).toHaveTextContent('Halted');
    expect(screen.getByText('halted: 1 of 2 stores of wave 0 failed')).toBeInTheDocument();
    expect(bar(/^All stores: 6 stores: 1 upgraded, 4 pending, 1 rolling back$/)).toBeInTheDocument();
    const failure = within(screen.getByRole('table')).getAllByRole('row')[1];
    expect(failure).toHaveTextContent(/store-9\s*Canary\s*Rolling back\s*not Ready within 600 s \(was 0\.1\.0\)/);
    // A halted rollout may be resumed or aborted, not paused.
    expect(screen.getByRole('button', { name: 'Resume' })).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Pause' })).not.toBeInTheDocument();
    // Another rollout's event changes nothing here; no poll while live.
    push(progress({ id: '22222222-2222-4222-8222-222222222222', state: 'done' }));
    expect(screen.getByRole('heading', { level: 1 })).toHaveTextContent('Halted');
    expect(calls.filter((c) => c.method === 'GET')).toHaveLength(1);
  });

  it('pauses only after the confirmation, and shows a refusal from the API', async () => {
    const user = userEvent.setup();
    let paused = false;
    const { api, calls } = fakeApi({
      [`GET /api/v1/admin/rollouts/${ID}`]: () => json(200, rollout()),
      [`POST /api/v1/admin/rollouts/${ID}/pause`]: () => {
        paused = true;
        return json(200, rollout({ state: 'paused' }));
      },
      [`POST /api/v1/admin/rollouts/${ID}/abort`]: () => json(409, problem(409, 'conflict', 'a done rollout cannot be asked to abort')),
    });
    withLive(<RolloutDetail api={api} id={ID} />);
    await user.click(await screen.findByRole('button', { name: 'Pause' }));
    const dialog = screen.getByRole('alertdialog', { name: 'Pause this rollout?' });
    await user.click(within(dialog).getByRole('button', { name: 'Cancel' }));
    expect(paused).toBe(false);
    await user.click(screen.getByRole('button', { name: 'Pause' }));
    await user.click(within(screen.getByRole('alertdialog')).getByRole('button', { name: 'Pause' }));
    expect(await screen.findByRole('button', { name: 'Resume' })).toBeInTheDocument();
    expect(paused).toBe(true);
    expect(screen.getByRole('heading', { level: 1 })).toHaveTextContent('Paused');

    await user.click(screen.getByRole('button', { name: 'Abort' }));
    await user.click(within(screen.getByRole('alertdialog')).getByRole('button', { name: 'Abort' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('a done rollout cannot be asked to abort');
    expect(calls.map((c) => `${c.method} ${c.path}`)).toContain(`POST /api/v1/admin/rollouts/${ID}/abort`);
  });

  it('warns of the data lost by a restore where the settings of a data-migrating rollout are shown', async () => {
    const { api } = fakeApi({ [`GET /api/v1/admin/rollouts/${ID}`]: () => json(200, rollout({ engine: 'medusa', migrates_data: true })) });
    withLive(<RolloutDetail api={api} id={ID} />);
    const note = await screen.findByRole('note');
    expect(note).toHaveTextContent(DATA_LOSS_WARNING);
    expect(screen.getByText(/0\.1\.0 → 0\.2\.0 \(migrates data\)/)).toBeInTheDocument();
    expect(screen.getByText('tenants: acme')).toBeInTheDocument();
  });

  it('polls while the stream is not live', async () => {
    let reads = 0;
    const { api } = fakeApi({
      [`GET /api/v1/admin/rollouts/${ID}`]: () => {
        reads += 1;
        return json(200, rollout({ state: reads > 1 ? 'done' : 'running' }));
      },
    });
    withLive(<RolloutDetail api={api} id={ID} />, 'polling');
    expect(await screen.findByRole('heading', { level: 1, name: /Rollout of/ })).toHaveTextContent('Running');
    await waitFor(() => expect(screen.getByRole('heading', { level: 1 })).toHaveTextContent('Done'), { timeout: 5000 });
  });
});

describe('RolloutList', () => {
  const catalogue = {
    items: [
      {
        engine: 'medusa',
        for_new_stores: '0.1.1',
        versions: [
          { version: '0.1.1', app_version: '2.21.1', migrates_data: false },
          { version: '0.2.0', app_version: '2.21.2', migrates_data: true },
        ],
      },
    ],
  };

  it('lists rollouts with their progress and applies stream events to them', async () => {
    const { api } = fakeApi({
      'GET /api/v1/admin/rollouts': () => json(200, { items: [rollout()] }),
      'GET /api/v1/admin/charts': () => json(200, catalogue),
    });
    const { push } = withLive(<RolloutList api={api} />);
    const row = (await screen.findByRole('link', { name: 'woocommerce 0.1.0 → 0.2.0' })).closest('tr')!;
    expect(row).toHaveAttribute('data-rollout', ID);
    expect(within(row).getByText('Running')).toBeInTheDocument();
    push(progress({ state: 'done', wave: 1, counts: counts({ upgraded: 6 }) }));
    await waitFor(() => expect(within(row).getByText('Done')).toBeInTheDocument());
    expect(within(row).getByRole('img')).toHaveAccessibleName(/6 stores: 6 upgraded/);
  });

  it('starts a rollout from the catalogue, warns of data loss, and shows the API’s validation errors', async () => {
    const user = userEvent.setup();
    const bodies: unknown[] = [];
    const { api } = fakeApi({
      'GET /api/v1/admin/rollouts': () => json(200, { items: [] }),
      'GET /api/v1/admin/charts': () => json(200, catalogue),
      'POST /api/v1/admin/rollouts': (call) => {
        bodies.push(JSON.parse(call.body ?? 'null'));
        return json(
          400,
          problem(400, 'invalid_request', 'strategy.waves: cumulative percentages, increasing, the last 100', [
            { field: 'strategy.waves', message: 'the last wave must be 100' },
          ]),
        );
      },
    });
    withLive(<RolloutList api={api} />);
    expect(await screen.findByText('No rollout yet.')).toBeInTheDocument();
    await user.click(screen.getByText('Start a rollout'));
    const target = await screen.findByLabelText('Target version');
    await waitFor(() => expect(target).toHaveValue('0.2.0')); // the newest one new stores do not get yet
    expect(screen.getByRole('note')).toHaveTextContent(DATA_LOSS_WARNING);
    await user.selectOptions(target, '0.1.1');
    expect(screen.queryByRole('note')).not.toBeInTheDocument();
    await user.selectOptions(target, '0.2.0');
    await user.clear(screen.getByLabelText('Waves (cumulative %, comma-separated)'));
    await user.type(screen.getByLabelText('Waves (cumulative %, comma-separated)'), '25, 50');
    await user.type(screen.getByLabelText('Tenants (comma-separated)'), 'acme, globex');
    await user.click(screen.getByRole('button', { name: 'Start rollout' }));
    expect(await screen.findByRole('alert')).toHaveTextContent(/strategy\.waves: the last wave must be 100/);
    expect(screen.getByLabelText('Waves (cumulative %, comma-separated)')).toHaveAccessibleDescription('the last wave must be 100');
    expect(bodies[0]).toMatchObject({
      engine: 'medusa',
      target_version: '0.2.0',
      selector: { tenants: ['acme', 'globex'], plans: [], store_ids: [] },
      strategy: { canary: 1, waves: [25, 50], max_in_flight: 5 },
      on_halt: 'rollback',
    });
  });
});

describe('applyProgress', () => {
  it('replaces what changes and keeps the settings', () => {
    const before = rollout({ migrates_data: true });
    const after = applyProgress(before, progress({ state: 'paused', failures: [] }));
    expect(after.state).toBe('paused');
    expect(after.migrates_data).toBe(true);
    expect(after.strategy).toEqual(before.strategy);
    expect(applyProgress(before, progress({ id: 'other', state: 'done' }))).toBe(before);
  });
});
