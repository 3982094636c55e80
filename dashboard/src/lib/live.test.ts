import { describe, expect, it, vi } from 'vitest';
import { fakeApi, json, problem, store } from '../test/fake-api';
import { StoreStream, type LiveMode } from './live';
import type { Store } from './api';

function sse(chunks: string[], close = true): Response {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const c of chunks) controller.enqueue(encoder.encode(c));
      if (close) controller.close();
    },
  });
  return new Response(body, { status: 200, headers: { 'Content-Type': 'text/event-stream' } });
}

async function until(check: () => boolean, ms = 2000) {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('StoreStream', () => {
  it('delivers store events, sends the token in a header and resumes with Last-Event-ID', async () => {
    const s1 = store({ status: 'ready' });
    let connections = 0;
    const { api, calls } = fakeApi({
      'GET /api/v1/stores/events': () => {
        connections += 1;
        return connections === 1
          ? sse([`: hi\n\nevent: store\nid: cur-1\ndata: ${JSON.stringify(s1)}\n\n`])
          : sse([], false);
      },
    });
    const got: Store[] = [];
    const modes: LiveMode[] = [];
    const stream = new StoreStream(api, { onStore: (s) => got.push(s), onMode: (m) => modes.push(m), backoffMs: () => 1 });
    stream.start();
    await until(() => connections >= 2);
    stream.stop();
    expect(got).toEqual([s1]);
    expect(calls[0].headers.Authorization).toBe('Bearer secret-token');
    expect(calls[0].path).toBe('/api/v1/stores/events'); // never a token in the URL
    expect(calls[0].headers['Last-Event-ID']).toBeUndefined();
    expect(calls[1].headers['Last-Event-ID']).toBe('cur-1');
    expect(modes).toContain('live');
  });

  it('falls back to polling when the stream does not exist', async () => {
    const { api } = fakeApi({});
    const onMode = vi.fn();
    const stream = new StoreStream(api, { onStore: () => {}, onMode, missingRetryMs: 60_000 });
    stream.start();
    await until(() => onMode.mock.calls.some(([m]) => m === 'polling'));
    stream.stop();
    expect(onMode).not.toHaveBeenCalledWith('live');
  });

  it('falls back to polling when the stream answers something that is not SSE', async () => {
    const { api } = fakeApi({ 'GET /api/v1/stores/events': () => json(200, { items: [] }) });
    const onMode = vi.fn();
    const stream = new StoreStream(api, { onStore: () => {}, onMode });
    stream.start();
    await until(() => onMode.mock.calls.some(([m]) => m === 'polling'));
    stream.stop();
  });

  it('ignores the open event, re-reads on reset, and drops an id the server refuses', async () => {
    const s1 = store();
    let connections = 0;
    const { api, calls } = fakeApi({
      'GET /api/v1/stores/events': () => {
        connections += 1;
        if (connections === 1) {
          return sse([`id: 7\nevent: open\ndata: {"head":"7"}\n\nevent: reset\ndata: {}\n\nid: 8\nevent: store\ndata: ${JSON.stringify(s1)}\n\n`]);
        }
        if (connections === 2) return json(400, problem(400, 'invalid_request', 'bad id'));
        return sse([], false);
      },
    });
    const got: Store[] = [];
    const onReset = vi.fn();
    const stream = new StoreStream(api, { onStore: (s) => got.push(s), onMode: () => {}, onReset, backoffMs: () => 1 });
    stream.start();
    await until(() => connections >= 3);
    stream.stop();
    expect(got).toEqual([s1]);
    expect(calls[1].headers['Last-Event-ID']).toBe('8');
    expect(calls[2].headers['Last-Event-ID']).toBeUndefined();
    expect(onReset).toHaveBeenCalledTimes(2); // the reset event, then the refused id
  });

  it('delivers rollout events apart from store events, and they leave Last-Event-ID alone', async () => {
    const s1 = store({ status: 'ready' });
    const progress = { id: 'r-1', state: 'paused', counts: { upgraded: 3 } };
    let connections = 0;
    const { api, calls } = fakeApi({
      'GET /api/v1/stores/events': () => {
        connections += 1;
        return connections === 1
          ? sse([`id: 4\nevent: store\ndata: ${JSON.stringify(s1)}\n\nevent: rollout\ndata: ${JSON.stringify(progress)}\n\n`])
          : sse([], false);
      },
    });
    const stores: Store[] = [];
    const rollouts: unknown[] = [];
    const stream = new StoreStream(api, {
      onStore: (s) => stores.push(s),
      onRollout: (r) => rollouts.push(r),
      onMode: () => {},
      backoffMs: () => 1,
    });
    stream.start();
    await until(() => connections >= 2);
    stream.stop();
    expect(stores).toEqual([s1]);
    expect(rollouts).toEqual([progress]);
    expect(calls[1].headers['Last-Event-ID']).toBe('4');
  });
});
