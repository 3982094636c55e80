import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { App } from './App';
import { json, problem } from './test/fake-api';

afterEach(() => vi.restoreAllMocks());

describe('App', () => {
  it('keeps a session across a reload, and a revoked token lands on a clear sign-in screen', async () => {
    sessionStorage.setItem('storefleet.token', 'was-good');
    let revoked = false;
    vi.spyOn(globalThis, 'fetch').mockImplementation(async (input) => {
      const path = new URL(String(input), 'http://x').pathname;
      if (revoked) return json(401, problem(401, 'unauthorized', 'token revoked'));
      if (path === '/api/v1/me') return json(200, { tenant_id: 'demo', role: 'tenant' });
      if (path === '/api/v1/stores') return json(200, { items: [], next_cursor: null });
      return json(404, problem(404, 'not_found', path));
    });
    render(<App />);
    expect(await screen.findByRole('heading', { name: 'No stores yet' })).toBeInTheDocument();
    expect(screen.queryByRole('link', { name: 'Admin' })).not.toBeInTheDocument(); // a tenant token
    revoked = true;
    const nav = within(screen.getByRole('navigation', { name: 'Main' }));
    await userEvent.setup().click(nav.getByRole('link', { name: 'New store' }));
    await userEvent.setup().click(nav.getByRole('link', { name: 'Stores' }));
    expect(await screen.findByText(/expired or been revoked/)).toBeInTheDocument();
    expect(screen.getByLabelText('API token')).toBeInTheDocument();
    expect(sessionStorage.getItem('storefleet.token')).toBeNull();
  });

  it('falls back to a one-store listing where /api/v1/me does not exist, and signs in', async () => {
    const user = userEvent.setup();
    const seen: string[] = [];
    vi.spyOn(globalThis, 'fetch').mockImplementation(async (input) => {
      const url = new URL(String(input), 'http://x');
      seen.push(url.pathname + url.search);
      if (url.pathname === '/api/v1/stores') return json(200, { items: [], next_cursor: null });
      return json(404, problem(404, 'not_found', url.pathname));
    });
    render(<App />);
    await user.type(screen.getByLabelText('API token'), 'old-server');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByRole('heading', { name: 'Stores', level: 1 })).toBeInTheDocument();
    expect(seen).toContain('/api/v1/stores?limit=1');
  });

  it('gives an admin the Admin view: stores by status, and "not available" for what the server lacks', async () => {
    const user = userEvent.setup();
    sessionStorage.setItem('storefleet.token', 'admin');
    const stores = [
      { id: 'a', name: 'a', status: 'ready', tenant_id: 't1' },
      { id: 'b', name: 'b', status: 'ready', tenant_id: 't2' },
      { id: 'c', name: 'c', status: 'failed', tenant_id: 't2' },
    ];
    vi.spyOn(globalThis, 'fetch').mockImplementation(async (input) => {
      const path = new URL(String(input), 'http://x').pathname;
      if (path === '/api/v1/me') return json(200, { tenant_id: 'platform', role: 'admin' });
      if (path === '/api/v1/stores') return json(200, { items: [], next_cursor: null });
      if (path === '/api/v1/admin/stores') return json(200, { items: stores });
      if (path === '/api/v1/admin/tenants')
        return json(200, { items: [{ id: 't1', store_quota: 5, live_stores: 1, rate_per_second: null, created_at: '' }] });
      return json(404, problem(404, 'not_found', path));
    });
    render(<App />);
    await user.click(await screen.findByRole('link', { name: 'Admin' }));
    const chart = (await screen.findByText('Stores by status')).closest('figure')!;
    const ready = within(chart).getByText('Ready').closest('li')!;
    expect(ready).toHaveTextContent('2');
    expect(within(chart).getByText('Failed').closest('li')).toHaveTextContent('1');
    const tenantRow = (await screen.findByRole('rowheader', { name: 't1' })).closest('tr')!;
    expect(tenantRow).toHaveTextContent('15');
    expect(screen.getByText(/does not offer the audit trail yet/)).toBeInTheDocument();
  });
});
