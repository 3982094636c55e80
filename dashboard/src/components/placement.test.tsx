// The real-node placement in the create form: offered only where GET /api/v1/me says the
// platform has a real node, checked against the engines it runs, sent as placement.
import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { fakeApi, json, problem, store } from '../test/fake-api';
import { CreateStore } from './CreateStore';

describe('CreateStore placement', () => {
  it('is not offered on a platform without a real node', () => {
    const { api } = fakeApi({});
    render(<CreateStore api={api} onCreated={vi.fn()} />);
    expect(screen.queryByLabelText('Run on the real node')).not.toBeInTheDocument();
  });

  it('refuses an engine the real node does not run, inline, and sends nothing', async () => {
    const user = userEvent.setup();
    const { api, calls } = fakeApi({});
    render(<CreateStore api={api} onCreated={vi.fn()} realNodeEngines={['medusa']} />);
    await user.type(screen.getByLabelText('Name'), 'shop');
    await user.click(screen.getByLabelText(/WooCommerce/));
    await user.click(screen.getByLabelText('Run on the real node'));
    expect(screen.getByText('Only Medusa stores can run on the real node.')).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Create store' }));
    expect(screen.getByLabelText('Run on the real node')).toHaveFocus();
    expect(calls).toHaveLength(0);
  });

  it('sends placement real-node for a Medusa store and shows the server refusal by the field', async () => {
    const user = userEvent.setup();
    const onCreated = vi.fn();
    let refuse = true;
    const { api, calls } = fakeApi({
      'POST /api/v1/stores': () =>
        refuse
          ? json(
              400,
              problem(400, 'invalid_request', 'this platform has no real node; use placement any', [
                { field: 'placement', message: 'this platform has no real node; use placement any' },
              ]),
            )
          : json(202, store({ name: 'real', engine: 'medusa', status: 'requested' })),
    });
    render(<CreateStore api={api} onCreated={onCreated} realNodeEngines={['medusa']} />);
    await user.type(screen.getByLabelText('Name'), 'real');
    await user.click(screen.getByLabelText(/Medusa/));
    await user.click(screen.getByLabelText('Run on the real node'));
    await user.click(screen.getByRole('button', { name: 'Create store' }));
    expect(await screen.findByText('this platform has no real node; use placement any')).toBeInTheDocument();
    expect(screen.getByLabelText('Run on the real node')).toHaveAttribute('aria-invalid', 'true');
    expect(JSON.parse(calls[0].body ?? '{}')).toEqual({ name: 'real', engine: 'medusa', plan: 'small', placement: 'real-node' });
    refuse = false;
    await user.click(screen.getByLabelText('Run on the real node'));
    await user.click(screen.getByLabelText('Run on the real node'));
    await user.click(screen.getByRole('button', { name: 'Create store' }));
    expect(onCreated).toHaveBeenCalledTimes(1);
    expect(JSON.parse(calls[1].body ?? '{}').placement).toBe('real-node');
  });
});
