// A scripted fetch for component tests: routes by "METHOD /path", records every call.
import { vi } from 'vitest';
import { ApiClient, type FieldError, type Problem, type Store } from '../lib/api';

export interface Call {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string | null;
}

type Handler = (call: Call) => Response | Promise<Response>;

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(body === null ? null : JSON.stringify(body), {
    status,
    headers: { 'Content-Type': status >= 400 ? 'application/problem+json' : 'application/json', ...headers },
  });
}

/** An error body as every service sends it (libs/http SendProblem; docs/openapi.yaml Problem). */
export function problem(status: number, code: string, detail: string, errors?: FieldError[]): Problem {
  return {
    type: `urn:storefleet:problem:${code}`,
    title: code.replace(/_/g, ' '),
    status,
    detail,
    code,
    ...(errors ? { errors } : {}),
  };
}

export function fakeApi(routes: Record<string, Handler>) {
  const calls: Call[] = [];
  const fetchFn = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input), 'http://dashboard.test');
    const call: Call = {
      method: (init?.method ?? 'GET').toUpperCase(),
      path: url.pathname + url.search,
      headers: (init?.headers ?? {}) as Record<string, string>,
      body: typeof init?.body === 'string' ? init.body : null,
    };
    calls.push(call);
    const key = `${call.method} ${url.pathname}`;
    const handler = routes[`${call.method} ${call.path}`] ?? routes[key];
    if (!handler) return json(404, problem(404, 'not_found', key));
    return handler(call);
  });
  const api = new ApiClient('secret-token', { fetch: fetchFn as unknown as typeof fetch });
  return { api, calls, fetchFn };
}

let counter = 0;
export function store(patch: Partial<Store> = {}): Store {
  counter += 1;
  return {
    id: `00000000-0000-4000-8000-${String(counter).padStart(12, '0')}`,
    name: `shop-${counter}`,
    engine: 'woocommerce',
    plan: 'small',
    host: `shop-${counter}.stores.local`,
    status: 'provisioning',
    step: 'guardrails',
    reason: null,
    url: null,
    admin_url: null,
    namespace: `store-${counter}`,
    simulated: true,
    created_at: new Date(Date.now() - 60_000).toISOString(),
    updated_at: new Date().toISOString(),
    generation: 1,
    observed_generation: 0,
    condition: { state: 'converging', message: 'converging to generation 1' },
    desired: { plan: 'small', suspended: false, admin_email: null, chart_version: '0.1.1' },
    chart_version: null,
    desired_etag: '"g1"',
    ...patch,
  };
}
