// Live store changes from GET /api/v1/stores/events (Server-Sent Events), read with fetch()
// and a ReadableStream: EventSource cannot send the Authorization header, and the token
// never goes into a URL. Reconnects with Last-Event-ID; when the stream does not exist
// (404) or keeps failing, the mode is 'polling' and the views poll instead.
import { ApiError, type ApiClient, type RolloutProgress, type Store } from './api';

export interface SseMessage {
  event: string;
  data: string;
  id: string | null;
}

/** Incremental text/event-stream parser (the WHATWG rules, minus `retry`). */
export class SseParser {
  private buffer = '';
  private data: string[] = [];
  private event = '';
  private sawField = false;
  lastEventId: string | null = null;

  feed(chunk: string): SseMessage[] {
    this.buffer += chunk;
    const out: SseMessage[] = [];
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      if (!match) break;
      // A lone '\r' at the very end may be the first half of '\r\n': wait for more.
      if (match[0] === '\r' && match.index === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      const message = this.line(line);
      if (message) out.push(message);
    }
    return out;
  }

  private line(line: string): SseMessage | null {
    if (line === '') {
      if (!this.sawField) return null;
      const message =
        this.data.length > 0 ? { event: this.event || 'message', data: this.data.join('\n'), id: this.lastEventId } : null;
      this.data = [];
      this.event = '';
      this.sawField = false;
      return message;
    }
    if (line.startsWith(':')) return null; // comment: a heartbeat
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    this.sawField = true;
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) {
      this.lastEventId = value;
    }
    return null;
  }
}

export type LiveMode = 'connecting' | 'live' | 'polling' | 'stopped';

export interface StreamOptions {
  onStore: (store: Store) => void;
  /** A fleet rollout changed (`event: rollout`, admin streams only; no id, not replayed). */
  onRollout?: (rollout: RolloutProgress) => void;
  /** The server could not replay from our Last-Event-ID (`event: reset`): re-read everything. */
  onReset?: () => void;
  onMode: (mode: LiveMode) => void;
  /** Milliseconds without a byte (heartbeats included) after which the stream is renewed. */
  idleTimeoutMs?: number;
  /** Back-off before a reconnect; the n-th consecutive failure. */
  backoffMs?: (failures: number) => number;
  /** How long to poll before trying a stream that answered 404 again. */
  missingRetryMs?: number;
}

/** Runs until stop() is called. Never throws. */
export class StoreStream {
  private readonly api: ApiClient;
  private readonly options: Required<StreamOptions>;
  private controller: AbortController | null = null;
  private stopped = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  lastEventId: string | null = null;
  mode: LiveMode = 'connecting';

  constructor(api: ApiClient, options: StreamOptions) {
    this.api = api;
    this.options = {
      idleTimeoutMs: 45_000,
      backoffMs: (n) => Math.min(30_000, 1000 * 2 ** Math.min(n, 5)) * (0.75 + Math.random() * 0.5),
      missingRetryMs: 60_000,
      onReset: () => {},
      onRollout: () => {},
      ...options,
    };
  }

  start(): void {
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
    this.controller?.abort();
    if (this.timer) clearTimeout(this.timer);
    this.setMode('stopped');
  }

  private setMode(mode: LiveMode): void {
    if (this.mode === mode) return;
    this.mode = mode;
    this.options.onMode(mode);
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.timer = setTimeout(resolve, ms);
    });
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      const outcome = await this.once();
      if (this.stopped) return;
      if (outcome === 'unauthorized') {
        this.setMode('stopped');
        return;
      }
      if (outcome === 'missing') {
        this.setMode('polling');
        await this.wait(this.options.missingRetryMs);
        continue;
      }
      if (outcome === 'received') failures = 0;
      else failures += 1;
      // A stream that fails does not leave the views stale: they poll until it is back.
      this.setMode('polling');
      await this.wait(this.options.backoffMs(failures));
    }
  }

  /** One connection: 'received' if it delivered anything before it ended. */
  private async once(): Promise<'received' | 'failed' | 'missing' | 'unauthorized'> {
    const resuming = this.lastEventId !== null;
    const controller = new AbortController();
    this.controller = controller;
    let idle: ReturnType<typeof setTimeout> | null = null;
    const armIdle = () => {
      if (idle) clearTimeout(idle);
      idle = setTimeout(() => controller.abort(), this.options.idleTimeoutMs);
    };
    let received = false;
    try {
      const headers: Record<string, string> = { Accept: 'text/event-stream' };
      if (this.lastEventId) headers['Last-Event-ID'] = this.lastEventId;
      armIdle();
      const response = await this.api.raw('/api/v1/stores/events', { headers, signal: controller.signal });
      const type = response.headers.get('Content-Type') ?? '';
      if (!type.includes('text/event-stream') || !response.body) return 'missing';
      this.setMode('live');
      const parser = new SseParser();
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      for (;;) {
        armIdle();
        const { value, done } = await reader.read();
        if (done) break;
        received = true;
        for (const message of parser.feed(decoder.decode(value, { stream: true }))) {
          if (message.id !== null) this.lastEventId = message.id;
          if (message.event === 'reset') {
            this.options.onReset();
            continue;
          }
          if (message.event !== 'store' && message.event !== 'rollout') continue; // 'open' only carries the head id

          try {
            if (message.event === 'rollout') this.options.onRollout(JSON.parse(message.data) as RolloutProgress);
            else this.options.onStore(JSON.parse(message.data) as Store);
          } catch {
            // A malformed event is skipped; the next poll or event corrects the view.
          }
        }
      }
      return received ? 'received' : 'failed';
    } catch (error) {
      if (error instanceof ApiError) {
        if (error.status === 401) return 'unauthorized';
        if (error.status === 404 || error.status === 405 || error.status === 501) return 'missing';
        if (error.status === 400 && resuming) {
          // An id the server does not know (another server, a reset database): start from now.
          this.lastEventId = null;
          this.options.onReset();
        }
      }
      return received ? 'received' : 'failed';
    } finally {
      if (idle) clearTimeout(idle);
      this.controller = null;
    }
  }
}
