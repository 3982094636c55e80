import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import type { FiguresBucket, PlatformFigures } from '../lib/api';
import { fakeApi, json, problem } from '../test/fake-api';
import { niceMax, PlatformFiguresPanel } from './Figures';

function bucket(start: string, patch: Partial<FiguresBucket> = {}): FiguresBucket {
  return { start, ready: 0, failed: 0, ready_per_minute: 0, failed_per_minute: 0, post_to_ready_seconds: null, ...patch };
}

function figures(patch: Partial<PlatformFigures> = {}): PlatformFigures {
  return {
    window_seconds: 3600,
    bucket_seconds: 60,
    generated_at: '2026-11-29T07:00:10Z',
    stores_by_status: { ready: 4, failed: 2 },
    buckets: [
      bucket('2026-11-29T06:57:00Z'),
      bucket('2026-11-29T06:58:00Z', { ready: 3, ready_per_minute: 3, post_to_ready_seconds: { p50: 8, p90: 12, p99: 40 } }),
      bucket('2026-11-29T06:59:00Z', { failed: 2, failed_per_minute: 2 }),
      bucket('2026-11-29T07:00:00Z', { ready: 1, ready_per_minute: 1, post_to_ready_seconds: { p50: 25, p90: 25, p99: 25 } }),
    ],
    consumer_lag: {
      available: true,
      partitions: [
        { group: 'provisioner', topic: 'store-commands', partition: 0, committed_offset: 2, end_offset: 5, lag: 3 },
        { group: 'provisioner', topic: 'store-commands', partition: 1, committed_offset: null, end_offset: 0, lag: 0 },
        { group: 'projector', topic: 'store-status', partition: 0, committed_offset: 9, end_offset: 9, lag: 0 },
      ],
    },
    ...patch,
  };
}

const chart = async (title: string) => (await screen.findByText(title)).closest('figure')!;

describe('PlatformFiguresPanel', () => {
  it('charts POST-to-Ready percentiles, throughput and lag, each with a summary and its numbers', async () => {
    const { api, calls } = fakeApi({ 'GET /api/v1/admin/figures': () => json(200, figures()) });
    render(<PlatformFiguresPanel api={api} />);

    const percentiles = await chart('POST to Ready, percentiles over time');
    const plot = within(percentiles).getByRole('img');
    expect(plot).toHaveAccessibleName(/POST to Ready, percentiles over time 4 stores became Ready; the slowest p99 was 40 s, the latest p50 25 s/);
    // One point per bucket with stores Ready, on each of the three lines.
    expect(plot.querySelectorAll('polyline')).toHaveLength(3);
    expect(plot.querySelector('polyline.series-p50')!.getAttribute('points')!.split(' ')).toHaveLength(2);
    expect(plot.querySelectorAll('.dot.series-p99')).toHaveLength(2);
    const rows = within(percentiles).getAllByRole('row');
    expect(rows).toHaveLength(3); // the header and the two buckets with stores Ready
    expect(rows[1]).toHaveTextContent(/3\s*8\.0 s\s*12 s\s*40 s/);
    expect(within(percentiles).getByText('max 50 s')).toBeInTheDocument();

    const throughput = await chart('Provisioning throughput, stores per minute');
    expect(within(throughput).getByRole('img')).toHaveAccessibleName(/4 Ready and 2 Failed in this window \(per minute\)/);
    expect(within(throughput).getAllByRole('row')).toHaveLength(4);
    expect(within(throughput).getByRole('img').querySelectorAll('rect[class="series-ready"]')).toHaveLength(2);

    const lag = await chart('Consumer lag per partition');
    const provisioner = within(lag).getByRole('img', { name: /provisioner on store-commands/ });
    expect(provisioner).toHaveAccessibleName('provisioner on store-commands 3 messages behind; most on partition 0.');
    expect(within(lag).getByRole('img', { name: /projector on store-status/ })).toHaveAccessibleName(/Caught up on all 1 partition\./);
    const partitionOne = within(lag).getAllByRole('rowheader', { name: '1' })[0].closest('tr')!;
    expect(partitionOne).toHaveTextContent(/none\s*0\s*0/);

    expect(calls.map((c) => c.path)).toEqual(['/api/v1/admin/figures?window=1h']);
  });

  it('asks for the chosen window', async () => {
    const user = userEvent.setup();
    const { api, calls } = fakeApi({ 'GET /api/v1/admin/figures': () => json(200, figures()) });
    render(<PlatformFiguresPanel api={api} />);
    await chart('Consumer lag per partition');
    await user.selectOptions(screen.getByLabelText('Time window'), 'Last 24 hours');
    await waitFor(() => expect(calls.map((c) => c.path)).toContain('/api/v1/admin/figures?window=24h'));
  });

  it('shows the rest when Kafka did not answer, and an empty window plainly', async () => {
    const { api } = fakeApi({
      'GET /api/v1/admin/figures': () =>
        json(
          200,
          figures({
            buckets: [bucket('2026-11-29T06:59:00Z'), bucket('2026-11-29T07:00:00Z')],
            consumer_lag: { available: false, reason: 'Kafka did not answer (metadata: Local: Timed out)', partitions: [] },
          }),
        ),
    });
    render(<PlatformFiguresPanel api={api} />);
    const lag = await chart('Consumer lag per partition');
    expect(lag).toHaveTextContent('Consumer lag is unavailable: Kafka did not answer (metadata: Local: Timed out).');
    const percentiles = await chart('POST to Ready, percentiles over time');
    expect(within(percentiles).getByRole('img')).toHaveAccessibleName(/No store became Ready in this window/);
    expect(within(percentiles).queryByRole('table')).toBeNull();
    expect(await chart('Provisioning throughput, stores per minute')).toHaveTextContent('0 Ready and 0 Failed');
  });

  it('says so for a tenant token and for a server without the figures', async () => {
    const forbidden = fakeApi({
      'GET /api/v1/admin/figures': () => json(403, problem(403, 'forbidden', 'this needs a platform admin token')),
    });
    const { unmount } = render(<PlatformFiguresPanel api={forbidden.api} />);
    expect(await screen.findByText(/could not be loaded \(this needs a platform admin token\)/)).toBeInTheDocument();
    unmount();
    const old = fakeApi({});
    render(<PlatformFiguresPanel api={old.api} />);
    expect(await screen.findByText(/does not offer platform figures yet/)).toBeInTheDocument();
  });
});

describe('niceMax', () => {
  it('rounds an axis up to 1, 2 or 5 times a power of ten', () => {
    expect(niceMax(0)).toBe(1);
    expect(niceMax(0.3)).toBe(0.5);
    expect(niceMax(1)).toBe(1);
    expect(niceMax(3)).toBe(5);
    expect(niceMax(40)).toBe(50);
    expect(niceMax(120)).toBe(200);
    expect(niceMax(Number.NaN)).toBe(1);
  });
});
