import { act, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import type { Store, StoreEvent } from '../lib/api';
import { LiveContext } from '../lib/live-context';
import { fakeApi, json, problem, store } from '../test/fake-api';
import { CreateStore } from './CreateStore';
import { SignIn } from './SignIn';
import { StoreDetail } from './StoreDetail';
import { StoreList } from './StoreList';

describe('SignIn', () => {
  it('explains a refused token and signs in with a good one', async () => {
    const user = userEvent.setup();
    const onSignedIn = vi.fn();
    const fetchSpy = vi.spyOn(globalThis, 'fetch').mockImplementation(async (_input, init) => {
      const auth = (init?.headers as Record<string, string>).Authorization;
      return auth === 'Bearer good'
        ? json(200, { tenant_id: 't1', role: 'tenant' })
        : json(401, problem(401, 'unauthorized', 'unknown token'));
    });
    render(<SignIn notice={null} onSignedIn={onSignedIn} />);
    await user.type(screen.getByLabelText('API token'), 'bad');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByRole('alert')).toHaveTextContent(/wrong, expired or revoked/);
    expect(onSignedIn).not.toHaveBeenCalled();
    await user.clear(screen.getByLabelText('API token'));
    await user.type(screen.getByLabelText('API token'), 'good');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    await waitFor(() => expect(onSignedIn).toHaveBeenCalledTimes(1));
    expect(onSignedIn.mock.calls[0][1]).toEqual({ tenant_id: 't1', role: 'tenant' });
    for (const [input] of fetchSpy.mock.calls) expect(String(input)).not.toContain('good');
    fetchSpy.mockRestore();
  });
});

describe('CreateStore', () => {
  it('checks the rules inline and sends nothing while they fail', async () => {
    const user = userEvent.setup();
    const { api, calls } = fakeApi({});
    render(<CreateStore api={api} onCreated={vi.fn()} />);
    await user.type(screen.getByLabelText('Name'), '-Bad');
    await user.tab();
    expect(screen.getByLabelText('Name')).toHaveAttribute('aria-invalid', 'true');
    expect(screen.getByText(/a-z, 0-9 and '-', not starting or ending/)).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Create store' }));
    expect(screen.getByText('Choose WooCommerce or Medusa.')).toBeInTheDocument();
    expect(screen.getByLabelText('Name')).toHaveFocus();
    expect(calls).toHaveLength(0);
  });

  it('creates one store on a double click, with an Idempotency-Key', async () => {
    const user = userEvent.setup();
    let release: () => void = () => {};
    const created = store({ name: 'twice', status: 'requested' });
    const { api, calls } = fakeApi({
      'POST /api/v1/stores': () => new Promise((resolve) => (release = () => resolve(json(202, created)))),
    });
    const onCreated = vi.fn();
    render(<CreateStore api={api} onCreated={onCreated} />);
    await user.type(screen.getByLabelText('Name'), 'twice');
    await user.click(screen.getByLabelText(/Medusa/));
    await user.selectOptions(screen.getByLabelText('Plan'), 'medium');
    await user.dblClick(screen.getByRole('button', { name: 'Create store' }));
    expect(calls).toHaveLength(1);
    expect(calls[0].headers['Idempotency-Key']).toMatch(/^[0-9a-f-]{32,36}$/);
    expect(JSON.parse(calls[0].body!)).toEqual({ name: 'twice', engine: 'medusa', plan: 'medium' });
    act(() => release());
    await waitFor(() => expect(onCreated).toHaveBeenCalledWith(created));
  });

  it('shows 409 and 422 problems next to their field', async () => {
    const user = userEvent.setup();
    let answer = json(409, problem(409, 'name_taken', "a store named 'taken' already exists"));
    const { api } = fakeApi({ 'POST /api/v1/stores': () => answer });
    render(<CreateStore api={api} onCreated={vi.fn()} />);
    await user.type(screen.getByLabelText('Name'), 'taken');
    await user.click(screen.getByLabelText(/WooCommerce/));
    await user.click(screen.getByRole('button', { name: 'Create store' }));
    const name = screen.getByLabelText('Name');
    await waitFor(() => expect(name).toHaveAttribute('aria-invalid', 'true'));
    expect(name).toHaveAccessibleDescription(/This name is taken/);
    expect(name).toHaveFocus();

    answer = json(
      422,
      problem(422, 'invalid_request', 'admin_email is not valid', [{ field: 'admin_email', message: 'admin_email is not a valid e-mail address' }]),
    );
    await user.clear(name);
    await user.type(name, 'fresh');
    await user.type(screen.getByLabelText(/Admin e-mail/), 'a@b.co');
    await user.click(screen.getByRole('button', { name: 'Create store' }));
    const email = screen.getByLabelText(/Admin e-mail/);
    await waitFor(() => expect(email).toHaveAccessibleDescription(/not a valid e-mail address/));
    expect(name).not.toHaveAttribute('aria-invalid');
  });

  it('says when to retry after a 429 and keeps the button off until then', async () => {
    const user = userEvent.setup();
    const { api } = fakeApi({
      'POST /api/v1/stores': () => json(429, problem(429, 'rate_limited', 'slow down'), { 'Retry-After': '30' }),
    });
    render(<CreateStore api={api} onCreated={vi.fn()} />);
    await user.type(screen.getByLabelText('Name'), 'busy');
    await user.click(screen.getByLabelText(/WooCommerce/));
    await user.click(screen.getByRole('button', { name: 'Create store' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('Try again in 30 s');
    expect(screen.getByRole('button', { name: /Wait \d+ s/ })).toBeDisabled();
  });

  it('explains a used-up quota', async () => {
    const user = userEvent.setup();
    const { api } = fakeApi({ 'POST /api/v1/stores': () => json(403, problem(403, 'quota_exceeded', 'quota of 2 stores reached')) });
    render(<CreateStore api={api} onCreated={vi.fn()} />);
    await user.type(screen.getByLabelText('Name'), 'one-more');
    await user.click(screen.getByLabelText(/WooCommerce/));
    await user.click(screen.getByRole('button', { name: 'Create store' }));
    expect(await screen.findByRole('alert')).toHaveTextContent(/quota is used up.*quota of 2 stores reached/);
  });
});

function withLive(ui: React.ReactNode, mode: 'live' | 'polling' = 'live') {
  const listeners = new Set<(s: Store) => void>();
  const value = {
    mode,
    generation: 0,
    subscribe: (l: (s: Store) => void) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    subscribeRollouts: () => () => {},
  };
  const view = render(<LiveContext.Provider value={value}>{ui}</LiveContext.Provider>);
  return { ...view, push: (s: Store) => act(() => listeners.forEach((l) => l(s))) };
}

describe('StoreList', () => {
  it('tells a new user what to do when there are no stores', async () => {
    const { api } = fakeApi({ 'GET /api/v1/stores': () => json(200, { items: [], next_cursor: null }) });
    withLive(<StoreList api={api} />);
    expect(await screen.findByRole('heading', { name: 'No stores yet' })).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'Create your first store' })).toHaveAttribute('href', '/stores/new');
  });

  it('shows badges and steps, and changes a row in place on a live event', async () => {
    const s = store({ name: 'live-one', status: 'provisioning', step: 'helm' });
    const other = store({ name: 'other', status: 'ready', step: null });
    const { api } = fakeApi({ 'GET /api/v1/stores': () => json(200, { items: [s, other], next_cursor: null }) });
    const { push } = withLive(<StoreList api={api} />);
    const row = (await screen.findByRole('link', { name: 'live-one' })).closest('tr')!;
    expect(within(row).getByText('Provisioning')).toHaveAttribute('data-status', 'provisioning');
    expect(within(row).getByRole('progressbar')).toHaveAttribute('aria-valuetext', 'Step 4 of 5: helm');
    push({ ...s, status: 'ready', step: null });
    expect(within(row).getByText('Ready')).toHaveAttribute('data-status', 'ready');
    expect(screen.getByText('live-one is now Ready')).toBeInTheDocument();
    const names = screen.getAllByRole('rowheader').map((h) => h.textContent);
    expect(names).toEqual(['live-one', 'other']);
  });

  it('shows each store\'s condition and generations, and filters by the lifecycle statuses', async () => {
    const user = userEvent.setup();
    const s = store({
      name: 'resized',
      status: 'ready',
      step: null,
      generation: 3,
      observed_generation: 2,
      condition: { state: 'converging', message: 'converging to generation 3' },
    });
    const { api, calls } = fakeApi({ 'GET /api/v1/stores': () => json(200, { items: [s], next_cursor: null }) });
    withLive(<StoreList api={api} />);
    const row = (await screen.findByRole('link', { name: 'resized' })).closest('tr')!;
    expect(within(row).getByText('Converging')).toHaveAttribute('title', 'converging to generation 3');
    expect(within(row).getByTestId('generation')).toHaveTextContent('generation 3, converged 2');
    await user.selectOptions(screen.getByLabelText('Status'), 'suspended');
    await waitFor(() => expect(calls.some((c) => c.path.includes('status=suspended'))).toBe(true));
    expect(within(screen.getByLabelText('Status')).getByRole('option', { name: 'Degraded' })).toBeInTheDocument();
  });

  it('sends filters and search to the API and pages with the cursor', async () => {
    const user = userEvent.setup();
    const { api, calls } = fakeApi({
      'GET /api/v1/stores': (call) =>
        json(200, call.path.includes('cursor=c2') ? { items: [store({ name: 'older' })], next_cursor: null } : { items: [store({ name: 'newer' })], next_cursor: 'c2' }),
    });
    withLive(<StoreList api={api} />);
    await screen.findByRole('link', { name: 'newer' });
    await user.selectOptions(screen.getByLabelText('Status'), 'ready');
    await user.selectOptions(screen.getByLabelText('Engine'), 'medusa');
    await user.type(screen.getByLabelText('Search by name'), 'Sho');
    await waitFor(() => expect(calls.at(-1)!.path).toContain('name_prefix=sho'));
    expect(calls.at(-1)!.path).toContain('status=ready');
    expect(calls.at(-1)!.path).toContain('engine=medusa');
    await user.click(screen.getByRole('button', { name: 'Older' }));
    expect(await screen.findByRole('link', { name: 'older' })).toBeInTheDocument();
    expect(calls.at(-1)!.path).toContain('cursor=c2');
    await user.click(screen.getByRole('button', { name: 'Newer' }));
    expect(await screen.findByRole('link', { name: 'newer' })).toBeInTheDocument();
  });

  it('polls when the stream is not available', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    try {
      let status: Store['status'] = 'provisioning';
      const s = store({ name: 'polled' });
      const { api } = fakeApi({ 'GET /api/v1/stores': () => json(200, { items: [{ ...s, status }], next_cursor: null }) });
      withLive(<StoreList api={api} />, 'polling');
      await screen.findByText('Provisioning', { selector: '.badge' });
      status = 'ready';
      await act(async () => {
        await vi.advanceTimersByTimeAsync(3500);
      });
      expect(await screen.findByText('Ready', { selector: '.badge' })).toBeInTheDocument();
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('StoreDetail', () => {
  const at = (s: number) => new Date(Date.now() - 120_000 + s * 1000).toISOString();
  const ev = (id: string, status: string, step: string | null, s: number, reason: string | null = null): StoreEvent => ({
    event_id: id,
    type: 'status',
    status,
    step,
    reason,
    occurred_at: at(s),
    correlation_id: null,
  });

  it('shows URLs with the simulated note and the timeline with step durations', async () => {
    const s = store({ name: 'detail', status: 'ready', step: null, url: 'http://detail.stores.local/', admin_url: 'http://detail.stores.local/wp-admin/' });
    const { api } = fakeApi({
      [`GET /api/v1/stores/${s.id}`]: () => json(200, { ...s, note: 'simulated by KWOK' }),
      [`GET /api/v1/stores/${s.id}/events`]: () =>
        json(200, [ev('1', 'requested', null, 0), ev('2', 'provisioning', 'namespace', 1), ev('3', 'provisioning', 'helm', 4), ev('4', 'ready', null, 34)]),
    });
    withLive(<StoreDetail api={api} id={s.id} />);
    expect(await screen.findByRole('link', { name: 'http://detail.stores.local/' })).toBeInTheDocument();
    expect(screen.getByTestId('simulated-note')).toHaveTextContent('simulated by KWOK');
    expect(await screen.findByText('took 30 s')).toBeInTheDocument(); // helm until ready
    expect(screen.getByText('took 3 s')).toBeInTheDocument();
    expect(screen.getByText(/Ready 34 s after it was requested/)).toBeInTheDocument();
  });

  it('shows the reason of a failure', async () => {
    const s = store({ name: 'broken', status: 'failed', step: 'helm', reason: 'chart install failed: quota exceeded' });
    const { api } = fakeApi({
      [`GET /api/v1/stores/${s.id}`]: () => json(200, s),
      [`GET /api/v1/stores/${s.id}/events`]: () => json(200, [ev('1', 'requested', null, 0), ev('2', 'failed', 'helm', 5, s.reason)]),
    });
    withLive(<StoreDetail api={api} id={s.id} />);
    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent('Provisioning failed');
    expect(alert).toHaveTextContent('chart install failed: quota exceeded');
  });

  it('suspends with a merge patch on the desired state it shows, and shows the new generation', async () => {
    const user = userEvent.setup();
    const s = store({
      name: 'calm',
      status: 'ready',
      step: null,
      observed_generation: 1,
      condition: { state: 'in_sync', message: 'converged to generation 1' },
    });
    let current: Store = s;
    const { api, calls } = fakeApi({
      [`GET /api/v1/stores/${s.id}`]: () => json(200, current),
      [`GET /api/v1/stores/${s.id}/events`]: () => json(200, [ev('1', 'requested', null, 0), ev('2', 'ready', null, 20)]),
      [`PATCH /api/v1/stores/${s.id}`]: () => {
        const desired = { ...s.desired, suspended: true };
        current = {
          ...s,
          generation: 2,
          desired,
          desired_etag: '"g2"',
          condition: { state: 'converging', message: 'converging to generation 2' },
        };
        return json(202, { id: s.id, generation: 2, desired, desired_etag: '"g2"', correlation_id: 'c' }, { ETag: '"g2"' });
      },
    });
    withLive(<StoreDetail api={api} id={s.id} />);
    expect(await screen.findByTestId('generation')).toHaveTextContent('generation 1, converged 1');
    expect(screen.getByText('In sync')).toBeInTheDocument();
    expect(screen.getByTestId('chart-version')).toHaveTextContent('0.1.1, not converged yet');
    await user.click(screen.getByRole('button', { name: 'Suspend' }));
    await waitFor(() => expect(calls.filter((c) => c.method === 'PATCH')).toHaveLength(1));
    const patch = calls.find((c) => c.method === 'PATCH')!;
    expect(patch.headers['Content-Type']).toBe('application/merge-patch+json');
    expect(patch.headers['If-Match']).toBe('"g1"');
    expect(JSON.parse(patch.body ?? '')).toEqual({ suspended: true });
    expect(await screen.findByText(/Change accepted as generation 2/)).toBeInTheDocument();
    await waitFor(() => expect(screen.getByTestId('generation')).toHaveTextContent('generation 2, converged 1'));
    expect(await screen.findByText('Converging')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Resume' })).toBeInTheDocument();
  });

  it('shows the chart version the store runs and the one a rollout moves it to', async () => {
    const s = store({
      name: 'upgrading',
      status: 'ready',
      step: null,
      generation: 2,
      observed_generation: 1,
      chart_version: '0.1.1',
      desired: { plan: 'small', suspended: false, admin_email: null, chart_version: '0.2.0' },
    });
    const { api } = fakeApi({
      [`GET /api/v1/stores/${s.id}`]: () => json(200, s),
      [`GET /api/v1/stores/${s.id}/events`]: () => json(200, [ev('1', 'requested', null, 0), ev('2', 'ready', null, 20)]),
    });
    const { push } = withLive(<StoreDetail api={api} id={s.id} />);
    expect(await screen.findByTestId('chart-version')).toHaveTextContent('0.1.1 → 0.2.0');
    push({ ...s, observed_generation: 2, chart_version: '0.2.0', updated_at: new Date().toISOString() });
    await waitFor(() => expect(screen.getByTestId('chart-version')).toHaveTextContent(/^0\.2\.0$/));
  });

  it('tells the user when the store changed since it was read (412) and reloads it', async () => {
    const user = userEvent.setup();
    const s = store({ name: 'raced', status: 'ready', step: null, observed_generation: 1 });
    let gets = 0;
    const { api, calls } = fakeApi({
      [`GET /api/v1/stores/${s.id}`]: () => {
        gets += 1;
        // Someone else changed the plan meanwhile: the reload shows generation 2.
        return json(200, gets === 1 ? s : { ...s, generation: 2, desired_etag: '"g2"', plan: 'large', desired: { ...s.desired, plan: 'large' } });
      },
      [`GET /api/v1/stores/${s.id}/events`]: () => json(200, []),
      [`PATCH /api/v1/stores/${s.id}`]: () => json(412, problem(412, 'precondition_failed', 'the store is at generation 2')),
    });
    withLive(<StoreDetail api={api} id={s.id} />);
    await user.selectOptions(await screen.findByLabelText('Plan'), 'medium');
    await user.click(screen.getByRole('button', { name: 'Change plan' }));
    expect(await screen.findByRole('alert')).toHaveTextContent(/changed by someone else since you loaded it/);
    await waitFor(() => expect(screen.getByTestId('generation')).toHaveTextContent('generation 2'));
    expect(JSON.parse(calls.find((c) => c.method === 'PATCH')!.body ?? '')).toEqual({ plan: 'medium' });
  });

  it('retries a degraded store', async () => {
    const user = userEvent.setup();
    const s = store({
      name: 'sore',
      status: 'degraded',
      step: 'helm',
      reason: 'quota exceeded',
      generation: 2,
      observed_generation: 1,
      desired_etag: '"g2"',
      condition: { state: 'degraded', message: 'quota exceeded' },
    });
    const { api, calls } = fakeApi({
      [`GET /api/v1/stores/${s.id}`]: () => json(200, s),
      [`GET /api/v1/stores/${s.id}/events`]: () => json(200, []),
      [`POST /api/v1/stores/${s.id}/retry`]: () =>
        json(202, { id: s.id, generation: 2, desired: s.desired, desired_etag: '"g2"', correlation_id: 'c' }),
    });
    withLive(<StoreDetail api={api} id={s.id} />);
    expect(await screen.findByRole('alert')).toHaveTextContent('A change failed');
    await user.click(screen.getByRole('button', { name: 'Retry' }));
    expect(await screen.findByText('Retry of generation 2 accepted.')).toBeInTheDocument();
    expect(calls.filter((c) => c.method === 'POST')).toHaveLength(1);
  });

  it('deletes only after confirmation and follows the deletion live', async () => {
    const user = userEvent.setup();
    const s = store({ name: 'doomed', status: 'ready', step: null });
    let current: Store = s;
    const { calls, push } = (() => {
      const f = fakeApi({
        [`GET /api/v1/stores/${s.id}`]: () => json(200, current),
        [`GET /api/v1/stores/${s.id}/events`]: () => json(200, [ev('1', 'requested', null, 0), ev('2', 'ready', null, 20)]),
        [`DELETE /api/v1/stores/${s.id}`]: () => {
          // As the query service does: read-your-writes, the store shows as deleting at once.
          current = { ...s, status: 'deleting', updated_at: new Date().toISOString() };
          return json(202, { status: 'deleting' });
        },
      });
      const view = withLive(<StoreDetail api={f.api} id={s.id} />);
      return { ...f, push: view.push };
    })();
    await user.click(await screen.findByRole('button', { name: 'Delete store' }));
    const dialog = screen.getByRole('alertdialog', { name: 'Delete doomed?' });
    expect(within(dialog).getByRole('button', { name: 'Cancel' })).toHaveFocus();
    await user.keyboard('{Escape}');
    expect(screen.queryByRole('alertdialog')).not.toBeInTheDocument();
    expect(calls.some((c) => c.method === 'DELETE')).toBe(false);

    await user.click(screen.getByRole('button', { name: 'Delete store' }));
    await user.click(within(screen.getByRole('alertdialog')).getByRole('button', { name: 'Delete' }));
    await waitFor(() => expect(calls.filter((c) => c.method === 'DELETE')).toHaveLength(1));
    expect(await screen.findByText(/Deleting this store/)).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Delete store' })).not.toBeInTheDocument();
    push({ ...s, status: 'deleted', updated_at: new Date().toISOString() });
    expect(await screen.findByText(/This store was deleted/)).toBeInTheDocument();
  });
});
