// The storefleet REST API as the dashboard uses it: one origin, a bearer token held by the
// caller (never put in a URL), errors turned into ApiError whatever shape the server sent
// (RFC 9457 problem+json, or the older {"error":{"code","message","field"}}).

export type StoreStatus = 'requested' | 'provisioning' | 'ready' | 'failed' | 'deleting' | 'deleted';
export type Engine = 'woocommerce' | 'medusa';
export type Plan = 'small' | 'medium' | 'large';

export interface Store {
  id: string;
  name: string | null;
  engine: Engine | null;
  plan: Plan | null;
  host: string | null;
  status: StoreStatus;
  step: string | null;
  reason: string | null;
  url: string | null;
  admin_url: string | null;
  namespace: string | null;
  simulated: boolean;
  note?: string;
  created_at: string;
  updated_at: string;
  tenant_id?: string;
}

export interface StoreEvent {
  event_id: string;
  type: string;
  status: string | null;
  step: string | null;
  reason: string | null;
  occurred_at: string;
  correlation_id: string | null;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface Me {
  tenant_id: string;
  tenant?: string;
  role: 'tenant' | 'admin';
  /** Engines a store may ask placement real-node for (the local stack's real node). */
  real_node_engines?: string[];
}

/** docs/openapi.yaml: PlatformFigures. */
export interface FiguresBucket {
  start: string;
  ready: number;
  failed: number;
  ready_per_minute: number;
  failed_per_minute: number;
  post_to_ready_seconds: { p50: number; p90: number; p99: number } | null;
}

export interface PartitionLag {
  group: string;
  topic: string;
  partition: number;
  committed_offset: number | null;
  end_offset: number;
  lag: number;
}

export interface PlatformFigures {
  window_seconds: number;
  bucket_seconds: number;
  generated_at: string;
  stores_by_status: Record<string, number>;
  buckets: FiguresBucket[];
  consumer_lag: { available: boolean; reason?: string; partitions: PartitionLag[] };
}

export interface CreateStoreBody {
  name: string;
  engine: Engine;
  plan?: Plan;
  admin_email?: string;
  placement?: 'any' | 'real-node';
}

export interface FieldError {
  field: string;
  message: string;
}

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

function codeFromType(type: unknown): string {
  if (typeof type !== 'string') return '';
  const tail = type.split(/[:/#]/).pop() ?? '';
  return tail === 'about:blank' ? '' : tail;
}

/** Builds an ApiError from a non-2xx response, reading its body if it is JSON. */
export async function errorFromResponse(response: Response): Promise<ApiError> {
  const retryAfter = parseRetryAfter(response.headers.get('Retry-After'));
  let body: unknown = null;
  try {
    const text = await response.text();
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  const status = response.status;
  if (body && typeof body === 'object') {
    const b = body as Record<string, unknown>;
    if (b.error && typeof b.error === 'object') {
      // The older shape: {"error":{"code","message","field"?}}.
      const e = b.error as Record<string, unknown>;
      const message = typeof e.message === 'string' ? e.message : '';
      const errors = typeof e.field === 'string' && e.field ? [{ field: e.field, message }] : [];
      return new ApiError({ status, code: String(e.code ?? ''), detail: message, errors, retryAfter });
    }
    const errors = Array.isArray(b.errors)
      ? (b.errors as unknown[])
          .filter((x): x is Record<string, unknown> => !!x && typeof x === 'object')
          .map((x) => ({ field: String(x.field ?? ''), message: String(x.message ?? x.detail ?? '') }))
      : [];
    return new ApiError({
      status,
      code: typeof b.code === 'string' ? b.code : codeFromType(b.type),
      title: typeof b.title === 'string' ? b.title : '',
      detail: typeof b.detail === 'string' ? b.detail : '',
      errors,
      retryAfter,
    });
  }
  return new ApiError({ status, title: response.statusText, retryAfter });
}

export type Fetch = typeof fetch;

export interface ListQuery {
  limit?: number;
  cursor?: string | null;
  status?: string;
  engine?: string;
  name_prefix?: string;
}

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
      return await this.json<Me>('/api/v1/me');
    } catch (error) {
      if (error instanceof ApiError && (error.status === 404 || error.status === 405)) {
        await this.json<unknown>('/api/v1/stores?limit=1');
        return { tenant_id: '', role: 'tenant' };
      }
      throw error;
    }
  }

  listStores(query: ListQuery = {}, signal?: AbortSignal): Promise<Page<Store>> {
    const params = new URLSearchParams();
    if (query.limit) params.set('limit', String(query.limit));
    if (query.cursor) params.set('cursor', query.cursor);
    if (query.status) params.set('status', query.status);
    if (query.engine) params.set('engine', query.engine);
    if (query.name_prefix) params.set('name_prefix', query.name_prefix);
    const qs = params.toString();
    return this.json<Page<Store> | Store[]>(`/api/v1/stores${qs ? `?${qs}` : ''}`, { signal }).then((page) =>
      Array.isArray(page) ? { items: page, next_cursor: null } : { items: page.items ?? [], next_cursor: page.next_cursor ?? null },
    );
  }

  getStore(id: string, signal?: AbortSignal): Promise<Store> {
    return this.json<Store>(`/api/v1/stores/${encodeURIComponent(id)}`, { signal });
  }

  timeline(id: string, signal?: AbortSignal): Promise<StoreEvent[]> {
    return this.json<StoreEvent[] | { items: StoreEvent[] }>(`/api/v1/stores/${encodeURIComponent(id)}/events`, {
      signal,
    }).then((t) => (Array.isArray(t) ? t : t.items ?? []));
  }

  createStore(body: CreateStoreBody, idempotencyKey: string): Promise<Store> {
    return this.json<Store>('/api/v1/stores', {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'Content-Type': 'application/json', 'Idempotency-Key': idempotencyKey },
    });
  }

  deleteStore(id: string): Promise<{ status: string }> {
    return this.json<{ status: string }>(`/api/v1/stores/${encodeURIComponent(id)}`, { method: 'DELETE' });
  }

  admin<T>(what: 'tenants' | 'stores' | 'audit', signal?: AbortSignal): Promise<T> {
    return this.json<T>(`/api/v1/admin/${what}`, { signal });
  }

  /** GET /api/v1/admin/figures (admin token): the admin view's charts over `window` ("15m", "1h", "24h"). */
  figures(window: string, signal?: AbortSignal): Promise<PlatformFigures> {
    return this.json<PlatformFigures>(`/api/v1/admin/figures?window=${encodeURIComponent(window)}`, { signal });
  }
}
