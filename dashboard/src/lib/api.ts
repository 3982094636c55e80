// The storefleet REST API as the dashboard uses it: one origin, a bearer token held by the
// caller (never put in a URL), errors turned into ApiError. Every type here is taken from
// ./api-schema.d.ts, which `npm run gen:api` generates from docs/openapi.yaml (never
// hand-written; src/lib/api-schema.test.ts fails when it is stale).
import type { components, paths } from './api-schema';

type Schemas = components['schemas'];
type Method = 'get' | 'post' | 'patch' | 'delete';
/**
 * The JSON body an operation answers with `status`, as docs/openapi.yaml declares it. An
 * operation without one gives a type nothing is assignable to (not `never`, which would fit
 * anywhere), so a wrong path, method or status fails the typecheck.
 */
type JsonBody<P extends keyof paths, M extends Method, S extends number> = paths[P][M] extends {
  responses: { [K in S]: { content: { 'application/json': infer Body } } };
}
  ? Body
  : { 'docs/openapi.yaml declares no JSON answer': [P, M, S] };
/** An operation's query parameters. */
type QueryOf<P extends keyof paths, M extends Method> = paths[P][M] extends { parameters: { query?: infer Q } }
  ? NonNullable<Q>
  : never;

export type Store = Schemas['Store'];
export type StoreStatus = Schemas['Status'];
export type Engine = Schemas['Engine'];
export type Plan = Schemas['Plan'];
export type StoreEvent = Schemas['TimelineEvent'];
export type StorePage = Schemas['StorePage'];
export type Me = Schemas['Me'];
export type CreateStoreBody = Schemas['StoreRequest'];
export type Accepted = Schemas['Accepted'];
export type DeletionAccepted = Schemas['DeletionAccepted'];
export type StoreCondition = Schemas['Condition'];
export type StorePatch = Schemas['StorePatch'];
export type ChangeAccepted = Schemas['ChangeAccepted'];
export type PlatformFigures = Schemas['PlatformFigures'];
export type FiguresBucket = PlatformFigures['buckets'][number];
export type PartitionLag = PlatformFigures['consumer_lag']['partitions'][number];
export type Tenant = Schemas['Tenant'];
export type AuditEntry = Schemas['AuditEntry'];
export type Rollout = Schemas['Rollout'];
export type RolloutRequest = Schemas['RolloutRequest'];
export type RolloutCounts = Schemas['RolloutCounts'];
/** The live stream's `event: rollout` (admin streams): the fields of a Rollout that change. */
export type RolloutProgress = Schemas['RolloutProgress'];
export type RolloutAction = 'pause' | 'resume' | 'abort';
/** One engine's store chart versions, as GET /api/v1/admin/charts lists them. */
export type ChartCatalogueEntry = JsonBody<'/api/v1/admin/charts', 'get', 200>['items'][number];
/** A store as the admin listing shows it (any tenant's). */
export type AdminStore = JsonBody<'/api/v1/admin/stores', 'get', 200>['items'][number];
/** The API's one error shape: an RFC 9457 problem (application/problem+json). */
export type Problem = Schemas['Problem'];
export type FieldError = NonNullable<Problem['errors']>[number];
/** GET /api/v1/stores's filters; `cursor` may be null for the first page. */
export type ListQuery = Partial<Omit<QueryOf<'/api/v1/stores', 'get'>, 'cursor'>> & { cursor?: string | null };

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly title: string;
  readonly detail: string;
  readonly errors: FieldError[];
  /** Seconds, from Retry-After on 429/503; null when absent. */
  readonly retryAfter: number | null;

  constructor(init: {
    status: number;
    code?: string;
    title?: string;
    detail?: string;
    errors?: FieldError[];
    retryAfter?: number | null;
  }) {
    super(init.detail || init.title || `HTTP ${init.status}`);
    this.name = 'ApiError';
    this.status = init.status;
    this.code = init.code ?? '';
    this.title = init.title ?? '';
    this.detail = init.detail ?? '';
    this.errors = init.errors ?? [];
    this.retryAfter = init.retryAfter ?? null;
  }

  /** The message for one field, if the server pinned one on it. */
  fieldMessage(field: string): string | undefined {
    return this.errors.find((e) => e.field === field)?.message;
  }
}

/** Retry-After is seconds or an HTTP date; both become whole seconds from now. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | null {
  if (value === null || value.trim() === '') return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return null;
  return Math.max(0, Math.ceil((at - now) / 1000));
}

/** The string field `key` of a parsed body, or '' when it is absent or not a string. */
function text(body: Record<string, unknown>, key: string): string {
  const value = body[key];
  return typeof value === 'string' ? value : '';
}

/** `errors: [{field, message}]` of a problem; entries of another shape are dropped. */
function fieldErrors(value: unknown): FieldError[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((entry: unknown) => {
    if (!entry || typeof entry !== 'object') return [];
    const e = entry as Record<string, unknown>;
    return typeof e.field === 'string' && typeof e.message === 'string' ? [{ field: e.field, message: e.message }] : [];
  });
}

/**
 * Builds an ApiError from a non-2xx response. Every service answers errors as a Problem
 * (libs/http SendProblem: type, title, status, detail, code, errors?); a body that is not one
 * (a proxy's HTML page, an empty body) leaves only the status and its reason phrase.
 */
export async function errorFromResponse(response: Response): Promise<ApiError> {
  const retryAfter = parseRetryAfter(response.headers.get('Retry-After'));
  const status = response.status;
  let body: unknown = null;
  try {
    const raw = await response.text();
    body = raw ? JSON.parse(raw) : null;
  } catch {
    body = null;
  }
  if (body && typeof body === 'object' && !Array.isArray(body) && typeof (body as Record<string, unknown>).type === 'string') {
    const problem = body as Record<string, unknown>;
    return new ApiError({
      status,
      code: text(problem, 'code'),
      title: text(problem, 'title'),
      detail: text(problem, 'detail'),
      errors: fieldErrors(problem.errors),
      retryAfter,
    });
  }
  return new ApiError({ status, title: response.statusText, retryAfter });
}

export type Fetch = typeof fetch;

/** Random enough for an Idempotency-Key; works outside secure contexts too. */
export function newIdempotencyKey(): string {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === 'function') return c.randomUUID();
  const bytes = new Uint8Array(16);
  c.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export class ApiClient {
  readonly token: string;
  private readonly base: string;
  private readonly fetchFn: Fetch;
  /** Called on every 401, so the app can sign out with a clear message. */
  onUnauthorized: ((error: ApiError) => void) | null = null;

  constructor(token: string, options: { base?: string; fetch?: Fetch } = {}) {
    this.token = token;
    this.base = options.base ?? '';
    this.fetchFn = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return { Accept: 'application/json', Authorization: `Bearer ${this.token}`, ...extra };
  }

  /** The raw fetch with the token, for streams; throws ApiError on non-2xx. */
  async raw(path: string, init: RequestInit & { headers?: Record<string, string> } = {}): Promise<Response> {
    const response = await this.fetchFn(this.base + path, {
      ...init,
      headers: this.headers(init.headers ?? {}),
      cache: 'no-store',
    });
    if (!response.ok) {
      const error = await errorFromResponse(response);
      if (error.status === 401) this.onUnauthorized?.(error);
      throw error;
    }
    return response;
  }

  private async json<T>(path: string, init: RequestInit & { headers?: Record<string, string> } = {}): Promise<T> {
    const response = await this.raw(path, init);
    const text = await response.text();
    return (text ? JSON.parse(text) : null) as T;
  }

  /** Who the token is; falls back to a one-store listing where /me does not exist yet. */
  async me(): Promise<Me> {
    try {
      return await this.json<JsonBody<'/api/v1/me', 'get', 200>>('/api/v1/me');
    } catch (error) {
      if (error instanceof ApiError && (error.status === 404 || error.status === 405)) {
        await this.json<unknown>('/api/v1/stores?limit=1');
        return { tenant_id: '', role: 'tenant', real_node_engines: [] };
      }
      throw error;
    }
  }

  /** GET /api/v1/stores: a page of the tenant's stores, newest first. */
  listStores(query: ListQuery = {}, signal?: AbortSignal): Promise<StorePage> {
    const params = new URLSearchParams();
    if (query.limit) params.set('limit', String(query.limit));
    if (query.cursor) params.set('cursor', query.cursor);
    if (query.status) params.set('status', query.status);
    if (query.engine) params.set('engine', query.engine);
    if (query.name_prefix) params.set('name_prefix', query.name_prefix);
    const qs = params.toString();
    return this.json<JsonBody<'/api/v1/stores', 'get', 200>>(`/api/v1/stores${qs ? `?${qs}` : ''}`, { signal });
  }

  getStore(id: string, signal?: AbortSignal): Promise<Store> {
    return this.json<JsonBody<'/api/v1/stores/{id}', 'get', 200>>(`/api/v1/stores/${encodeURIComponent(id)}`, { signal });
  }

  /** GET /api/v1/stores/{id}/events: the store's timeline, oldest first. */
  timeline(id: string, signal?: AbortSignal): Promise<StoreEvent[]> {
    return this.json<JsonBody<'/api/v1/stores/{id}/events', 'get', 200>>(`/api/v1/stores/${encodeURIComponent(id)}/events`, {
      signal,
    });
  }

  createStore(body: CreateStoreBody, idempotencyKey: string): Promise<Accepted> {
    return this.json<JsonBody<'/api/v1/stores', 'post', 202>>('/api/v1/stores', {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'Content-Type': 'application/json', 'Idempotency-Key': idempotencyKey },
    });
  }

  deleteStore(id: string): Promise<DeletionAccepted> {
    return this.json<JsonBody<'/api/v1/stores/{id}', 'delete', 202>>(`/api/v1/stores/${encodeURIComponent(id)}`, {
      method: 'DELETE',
    });
  }

  /**
   * PATCH /api/v1/stores/{id}: a JSON merge patch of the store's desired state, on the
   * condition that it is still at `desiredEtag` (the store's desired_etag): a 412 ApiError
   * when another change was accepted since it was read.
   */
  changeStore(id: string, patch: StorePatch, desiredEtag: string): Promise<ChangeAccepted> {
    return this.json<JsonBody<'/api/v1/stores/{id}', 'patch', 202>>(`/api/v1/stores/${encodeURIComponent(id)}`, {
      method: 'PATCH',
      body: JSON.stringify(patch),
      headers: { 'Content-Type': 'application/merge-patch+json', 'If-Match': desiredEtag },
    });
  }

  /** POST /api/v1/stores/{id}/retry: runs a failed or degraded store's current generation again. */
  retryStore(id: string): Promise<ChangeAccepted> {
    return this.json<JsonBody<'/api/v1/stores/{id}/retry', 'post', 202>>(`/api/v1/stores/${encodeURIComponent(id)}/retry`, {
      method: 'POST',
    });
  }

  /** GET /api/v1/admin/tenants (admin token). */
  adminTenants(signal?: AbortSignal): Promise<JsonBody<'/api/v1/admin/tenants', 'get', 200>> {
    return this.json('/api/v1/admin/tenants', { signal });
  }

  /** GET /api/v1/admin/stores (admin token): every tenant's stores not yet deleted. */
  adminStores(signal?: AbortSignal): Promise<JsonBody<'/api/v1/admin/stores', 'get', 200>> {
    return this.json('/api/v1/admin/stores', { signal });
  }

  /** GET /api/v1/admin/audit (admin token): tenant and token changes, newest first. */
  adminAudit(signal?: AbortSignal): Promise<JsonBody<'/api/v1/admin/audit', 'get', 200>> {
    return this.json('/api/v1/admin/audit', { signal });
  }

  /** GET /api/v1/admin/rollouts (admin token): fleet rollouts, newest first. */
  adminRollouts(signal?: AbortSignal): Promise<JsonBody<'/api/v1/admin/rollouts', 'get', 200>> {
    return this.json('/api/v1/admin/rollouts', { signal });
  }

  /** GET /api/v1/admin/rollouts/{id} (admin token): one rollout with its waves and failures. */
  adminRollout(id: string, signal?: AbortSignal): Promise<Rollout> {
    return this.json<JsonBody<'/api/v1/admin/rollouts/{id}', 'get', 200>>(`/api/v1/admin/rollouts/${encodeURIComponent(id)}`, {
      signal,
    });
  }

  /** POST /api/v1/admin/rollouts (admin token): starts a rollout; 400/409 as ApiError. */
  adminCreateRollout(body: RolloutRequest): Promise<Rollout> {
    return this.json<JsonBody<'/api/v1/admin/rollouts', 'post', 201>>('/api/v1/admin/rollouts', {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'Content-Type': 'application/json' },
    });
  }

  /** POST /api/v1/admin/rollouts/{id}/pause|resume|abort (admin token). */
  adminRolloutAction(id: string, action: RolloutAction): Promise<Rollout> {
    return this.json<JsonBody<'/api/v1/admin/rollouts/{id}/pause', 'post', 200>>(
      `/api/v1/admin/rollouts/${encodeURIComponent(id)}/${action}`,
      { method: 'POST' },
    );
  }

  /** GET /api/v1/admin/charts (admin token): the chart versions a rollout may target. */
  adminCharts(signal?: AbortSignal): Promise<JsonBody<'/api/v1/admin/charts', 'get', 200>> {
    return this.json('/api/v1/admin/charts', { signal });
  }

  /** GET /api/v1/admin/figures (admin token): the admin view's charts over `window` ("15m", "1h", "24h"). */
  figures(window: string, signal?: AbortSignal): Promise<PlatformFigures> {
    return this.json<JsonBody<'/api/v1/admin/figures', 'get', 200>>(
      `/api/v1/admin/figures?window=${encodeURIComponent(window)}`,
      { signal },
    );
  }
}
