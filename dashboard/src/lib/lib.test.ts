import { describe, expect, it } from 'vitest';
import { ApiError, errorFromResponse, parseRetryAfter, type Problem } from './api';
import { chartVersionText, formatDuration, stepProgress, timelineRows, timeToReady } from './format';
import { SseParser } from './live';
import { isDnsLabel, looksLikeEmail, validateStoreForm } from './validation';

describe('validation mirrors intake', () => {
  it('accepts DNS labels of 1-40 and refuses the rest', () => {
    expect(isDnsLabel('a', 40)).toBe(true);
    expect(isDnsLabel('my-shop-2', 40)).toBe(true);
    expect(isDnsLabel('x'.repeat(40), 40)).toBe(true);
    expect(isDnsLabel('x'.repeat(41), 40)).toBe(false);
    expect(isDnsLabel('-shop', 40)).toBe(false);
    expect(isDnsLabel('shop-', 40)).toBe(false);
    expect(isDnsLabel('My-Shop', 40)).toBe(false);
    expect(isDnsLabel('shop_1', 40)).toBe(false);
    expect(isDnsLabel('', 40)).toBe(false);
  });
  it('checks e-mail like intake does', () => {
    expect(looksLikeEmail('owner@example.com')).toBe(true);
    expect(looksLikeEmail('@example.com')).toBe(false);
    expect(looksLikeEmail('owner@example')).toBe(false);
    expect(looksLikeEmail('owner@example.')).toBe(false);
    expect(looksLikeEmail('own er@example.com')).toBe(false);
    expect(looksLikeEmail(`${'a'.repeat(90)}@example.com`)).toBe(false); // 102 > 100
  });
  it('names each wrong field', () => {
    expect(validateStoreForm({ name: 'ok', engine: 'medusa', plan: 'large', admin_email: '' })).toEqual({});
    const errors = validateStoreForm({ name: 'Bad!', engine: 'magento', plan: 'huge', admin_email: 'x' });
    expect(Object.keys(errors).sort()).toEqual(['admin_email', 'engine', 'name', 'plan']);
    expect(validateStoreForm({ name: 'MyShop', engine: 'medusa', plan: 'small', admin_email: '' }).name).toMatch(/lower-case/);
  });
});

describe('errors', () => {
  // The body as libs/http's SendProblem writes it; typed against the generated schema, so a
  // change to docs/openapi.yaml's Problem breaks this file's typecheck.
  const taken: Problem = {
    type: 'urn:storefleet:problem:name_taken',
    title: 'Conflict',
    status: 409,
    detail: "a store named 'shop' already exists for tenant demo",
    code: 'name_taken',
    errors: [{ field: 'name', message: 'the name is taken' }],
  };
  const answer = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    new Response(typeof body === 'string' ? body : JSON.stringify(body), {
      status,
      statusText: status === 409 ? 'Conflict' : '',
      headers: { 'Content-Type': 'application/problem+json', ...headers },
    });

  it('reads the problem every service sends: code, title, detail, field errors', async () => {
    const error = await errorFromResponse(answer(409, taken));
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(409);
    expect(error.code).toBe('name_taken');
    expect(error.title).toBe('Conflict');
    expect(error.detail).toBe("a store named 'shop' already exists for tenant demo");
    expect(error.message).toBe(error.detail);
    expect(error.errors).toEqual([{ field: 'name', message: 'the name is taken' }]);
    expect(error.fieldMessage('name')).toBe('the name is taken');
    expect(error.retryAfter).toBeNull();
  });
  it('reads a problem without errors, and Retry-After', async () => {
    const limited: Problem = { type: 'urn:storefleet:problem:rate_limited', title: 'Too Many Requests', status: 429, detail: 'slow down', code: 'rate_limited' };
    const error = await errorFromResponse(answer(429, limited, { 'Retry-After': '7' }));
    expect(error.code).toBe('rate_limited');
    expect(error.errors).toEqual([]);
    expect(error.retryAfter).toBe(7);
  });
  it('takes the code from the problem, not from its type', async () => {
    const error = await errorFromResponse(answer(409, { ...taken, type: 'urn:storefleet:problem:other' }));
    expect(error.code).toBe('name_taken');
  });
  it('no longer reads the retired {"error":{code,message,field}} shape', async () => {
    const error = await errorFromResponse(answer(409, { error: { code: 'name_taken', message: 'taken', field: 'name' } }));
    expect(error.status).toBe(409);
    expect(error.code).toBe('');
    expect(error.errors).toEqual([]);
    expect(error.fieldMessage('name')).toBeUndefined();
    expect(error.message).toBe('Conflict');
  });
  it('drops field errors of another shape', async () => {
    const error = await errorFromResponse(answer(400, { ...taken, status: 400, errors: [{ field: 'name', detail: 'x' }, 'name', null] }));
    expect(error.errors).toEqual([]);
  });
  it('survives a body that is not JSON', async () => {
    const error = await errorFromResponse(new Response('<html>bad gateway</html>', { status: 502, statusText: 'Bad Gateway' }));
    expect(error.status).toBe(502);
  });
  it('parses Retry-After as seconds or a date', () => {
    expect(parseRetryAfter('3')).toBe(3);
    expect(parseRetryAfter(null)).toBeNull();
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:10 GMT', now)).toBe(10);
  });
});

describe('SseParser', () => {
  it('parses events split across chunks, CRLF, comments and multi-line data', () => {
    const parser = new SseParser();
    expect(parser.feed(': heartbeat\n\nevent: store\nid: c1\nda')).toEqual([]);
    const [first] = parser.feed('ta: {"a":\r\ndata: 1}\r\n\r\n');
    expect(first).toEqual({ event: 'store', data: '{"a":\n1}', id: 'c1' });
    const more = parser.feed('data:plain\n\nevent: store\ndata: x\r');
    expect(more).toEqual([{ event: 'message', data: 'plain', id: 'c1' }]);
    expect(parser.feed('\n\n')).toEqual([{ event: 'store', data: 'x', id: 'c1' }]);
  });
  it('keeps the last id for reconnects', () => {
    const parser = new SseParser();
    parser.feed('id: 41\nevent: store\ndata: {}\n\nid: 42\n\n');
    expect(parser.lastEventId).toBe('42');
  });
});

describe('format', () => {
  it('formats durations', () => {
    expect(formatDuration(250)).toBe('250 ms');
    expect(formatDuration(4_000)).toBe('4 s');
    expect(formatDuration(65_000)).toBe('1 min 5 s');
    expect(formatDuration(2 * 3600_000 + 600_000)).toBe('2 h 10 min');
  });
  it('measures each step until the next event and requested-to-ready', () => {
    const at = (s: number) => new Date(Date.parse('2026-01-01T00:00:00Z') + s * 1000).toISOString();
    const events = [
      { event_id: '1', type: 'requested', status: 'requested', step: null, reason: null, occurred_at: at(0), correlation_id: null },
      { event_id: '2', type: 'status', status: 'provisioning', step: 'namespace', reason: null, occurred_at: at(2), correlation_id: null },
      { event_id: '3', type: 'status', status: 'provisioning', step: 'helm', reason: null, occurred_at: at(9), correlation_id: null },
      { event_id: '4', type: 'status', status: 'ready', step: null, reason: null, occurred_at: at(30), correlation_id: null },
    ];
    const rows = timelineRows(events);
    expect(rows.map((r) => r.durationMs)).toEqual([2000, 7000, 21000, null]);
    expect(rows[3].offsetMs).toBe(30000);
    expect(timeToReady(events)).toBe(30000);
    expect(stepProgress('provisioning', 'helm')).toBeCloseTo(3 / 5);
    expect(stepProgress('ready', null)).toBe(1);
  });
  it('shows the chart version a store runs, and the one it moves to', () => {
    expect(chartVersionText({ chart_version: '0.2.0', desired: { chart_version: '0.2.0' } })).toBe('0.2.0');
    expect(chartVersionText({ chart_version: '0.1.1', desired: { chart_version: '0.2.0' } })).toBe('0.1.1 → 0.2.0');
    expect(chartVersionText({ chart_version: '0.2.0', desired: { chart_version: '0.1.1' } })).toBe('0.2.0 → 0.1.1');
    expect(chartVersionText({ chart_version: null, desired: { chart_version: '0.1.1' } })).toBe('0.1.1, not converged yet');
    expect(chartVersionText({ chart_version: '0.1.1', desired: { chart_version: null } })).toBe('0.1.1');
    expect(chartVersionText({ chart_version: null, desired: { chart_version: null } })).toBe('—');
  });
});
