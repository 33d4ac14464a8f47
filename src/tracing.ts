import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import type { Logger } from './log.js';

/**
 * OpenTelemetry-compatible tracing, on only when an OTLP endpoint is configured
 * (`OTEL_EXPORTER_OTLP_ENDPOINT`). Off, every function here is a plain call-through: no spans, no timers,
 * no I/O.
 *
 * Why our own small tracer rather than `@opentelemetry/sdk-trace-base` + `exporter-trace-otlp-http`: the
 * current exporter and resources packages need Node >= 22.15, and every 2.x SDK declares the peer
 * `@opentelemetry/api <1.10.0` while our tree already holds 1.10.0 (via drizzle-orm and prom-client), so
 * installing it would fight the lock file. What vidmesh needs is small: W3C trace context and OTLP/HTTP
 * JSON export of finished spans.
 *
 * Formats:
 * - `traceparent`: W3C Trace Context §3.2, `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`.
 * - Export: OTLP/HTTP (opentelemetry-proto `ExportTraceServiceRequest`, JSON encoding per the OTLP spec
 *   "JSON Protobuf Encoding"): `POST <endpoint>/v1/traces`, `resourceSpans → scopeSpans → spans`, ids as
 *   lowercase hex, times as nanoseconds since the Unix epoch in decimal strings.
 *
 * Terminology: a **span** is one timed operation; its **context** is `{traceId, spanId, sampled}`; the
 * **current** span is the one whose callback is running (AsyncLocalStorage), and new spans are its
 * children unless a `traceparent` names another parent.
 */

/** Settings of {@link initTracing}. */
export interface TracingConfig {
  /** OTLP/HTTP base URL (`http://collector:4318`); spans go to `<endpoint>/v1/traces`. Unset: off. */
  endpoint?: string;
  /** `service.name` resource attribute (default `vidmesh`). */
  serviceName?: string;
  /** Resource `service.version`. */
  serviceVersion?: string;
  log?: Logger;
  /** Finished spans are sent at least this often, ms (default 1000). */
  flushIntervalMs?: number;
}

/** Attribute values OTLP carries; `undefined` values are dropped. */
export type SpanAttributes = Record<string, string | number | boolean | undefined>;

/** A started span. `end()` is idempotent; only ended, sampled spans are exported. */
export interface Span {
  readonly traceId: string;
  readonly spanId: string;
  setAttributes(attrs: SpanAttributes): void;
  /** Marks the span failed (OTLP status ERROR) with the error's code or message. */
  recordError(err: unknown): void;
  /**
   * Moves a span that has no children yet under another trace (used by claims, whose job — and so
   * whose trace — is known only when they return). Invalid values are ignored.
   */
  setParent(traceparent: string | undefined): void;
  /** W3C `traceparent` naming this span as parent. */
  traceparent(): string;
  end(): void;
}

/** The running tracer; `shutdown()` sends what is left and turns tracing off. */
export interface Tracing {
  readonly enabled: boolean;
  /** Sends every finished span now. Never throws (export failures are logged). */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

interface SpanContext {
  traceId: string;
  spanId: string;
  sampled: boolean;
}

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Array<{ key: string; value: Record<string, unknown> }>;
  status: { code: number; message?: string };
}

/** OTLP `Span.SpanKind`. */
const KIND = { internal: 1, server: 2, client: 3 } as const;
/** Queued spans beyond this are dropped (a collector that is down must not grow the heap). */
const MAX_QUEUE = 4096;
const BATCH = 512;
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

const current = new AsyncLocalStorage<SpanContext>();
let active: Exporter | undefined;

/**
 * Starts tracing when `config.endpoint` is set (replacing a tracer started before) and returns its
 * handle; without an endpoint returns a disabled handle and changes nothing.
 */
export function initTracing(config: TracingConfig): Tracing {
  if (!config.endpoint) {
    return { enabled: false, flush: async () => {}, shutdown: async () => {} };
  }
  const previous = active;
  const exporter = new Exporter(config);
  active = exporter;
  void previous?.shutdown();
  return {
    enabled: true,
    flush: () => exporter.flush(),
    shutdown: async () => {
      if (active === exporter) active = undefined;
      await exporter.shutdown();
    },
  };
}

/** True while a tracer is running (callers skip building attributes otherwise). */
export function tracingEnabled(): boolean {
  return active !== undefined;
}

/**
 * Starts a span: child of `options.parent` (a W3C traceparent) when valid, else of the current span,
 * else a new trace. Does not make it current: pass it to {@link runInSpan}. Off: a no-op span.
 */
export function startSpan(
  name: string,
  attrs: SpanAttributes = {},
  options: { parent?: string; kind?: keyof typeof KIND } = {},
): Span {
  const exporter = active;
  if (!exporter) return NOOP_SPAN;
  const parent = parseTraceparent(options.parent) ?? current.getStore();
  return new LiveSpan(exporter, name, attrs, parent, KIND[options.kind ?? 'internal']);
}

/** Runs `fn` with `span` as the current span (its children and {@link currentTraceparent} see it). */
export function runInSpan<T>(span: Span, fn: () => T): T {
  if (!(span instanceof LiveSpan)) return fn();
  return current.run({ traceId: span.traceId, spanId: span.spanId, sampled: span.sampled }, fn);
}

/**
 * Runs `fn` inside a new child span of the current one and ends it when `fn` settles; a thrown or
 * rejected error marks the span failed and is rethrown unchanged. Off: just calls `fn`.
 */
export async function withSpan<T>(
  name: string,
  attrs: SpanAttributes,
  fn: (span: Span) => Promise<T> | T,
  options: { parent?: string; kind?: keyof typeof KIND } = {},
): Promise<T> {
  if (!active) return fn(NOOP_SPAN);
  const span = startSpan(name, attrs, options);
  try {
    return await runInSpan(span, () => fn(span));
  } catch (err) {
    span.recordError(err);
    throw err;
  } finally {
    span.end();
  }
}

/**
 * {@link withSpan} under the trace named by `traceparent` (a job's trace, carried in a claim); an
 * absent or malformed value falls back to the current span.
 */
export function spanFromTraceparent<T>(
  traceparent: string | undefined,
  name: string,
  attrs: SpanAttributes,
  fn: (span: Span) => Promise<T> | T,
): Promise<T> {
  return withSpan(name, attrs, fn, { parent: traceparent });
}

/** W3C `traceparent` of the current span, or undefined when tracing is off or no span is current. */
export function currentTraceparent(): string | undefined {
  if (!active) return undefined;
  const ctx = current.getStore();
  return ctx ? format(ctx) : undefined;
}

/** Parses a W3C traceparent (version 00); all-zero ids are invalid (Trace Context §3.2.2.3-4). */
export function parseTraceparent(value: string | undefined): SpanContext | undefined {
  const m = value ? TRACEPARENT.exec(value.trim().toLowerCase()) : null;
  if (!m?.[1] || !m[2] || !m[3]) return undefined;
  if (/^0+$/.test(m[1]) || /^0+$/.test(m[2])) return undefined;
  return { traceId: m[1], spanId: m[2], sampled: (Number.parseInt(m[3], 16) & 1) === 1 };
}

function format(ctx: SpanContext): string {
  return `00-${ctx.traceId}-${ctx.spanId}-${ctx.sampled ? '01' : '00'}`;
}

/** Wall-clock time in ns since the epoch as a decimal string (sub-ms from the monotonic clock). */
function nowNanos(): string {
  const ms = performance.timeOrigin + performance.now();
  const whole = Math.floor(ms);
  return (BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1e6))).toString();
}

function otlpValue(v: string | number | boolean): Record<string, unknown> {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  // int64 is a decimal string in OTLP JSON.
  return Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v };
}

class LiveSpan implements Span {
  traceId: string;
  readonly spanId = randomBytes(8).toString('hex');
  sampled: boolean;
  private parentSpanId: string | undefined;
  private readonly start = nowNanos();
  private readonly attrs: SpanAttributes;
  private status: { code: number; message?: string } = { code: 0 };
  private ended = false;

  constructor(
    private readonly exporter: Exporter,
    private readonly name: string,
    attrs: SpanAttributes,
    parent: SpanContext | undefined,
    private readonly kind: number,
  ) {
    this.attrs = { ...attrs };
    this.traceId = parent?.traceId ?? randomBytes(16).toString('hex');
    this.parentSpanId = parent?.spanId;
    this.sampled = parent?.sampled ?? true;
  }

  setAttributes(attrs: SpanAttributes): void {
    Object.assign(this.attrs, attrs);
  }

  recordError(err: unknown): void {
    const e = err as { code?: unknown; message?: unknown } | undefined;
    const code = typeof e?.code === 'string' ? e.code : undefined;
    this.status = { code: 2, message: code ?? (typeof e?.message === 'string' ? e.message : 'error') };
    if (code) this.attrs['error.type'] = code;
  }

  setParent(traceparent: string | undefined): void {
    const p = parseTraceparent(traceparent);
    if (!p) return;
    this.traceId = p.traceId;
    this.parentSpanId = p.spanId;
    this.sampled = p.sampled;
  }

  traceparent(): string {
    return format(this);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (!this.sampled) return;
    const attributes = Object.entries(this.attrs).flatMap(([key, v]) =>
      v === undefined ? [] : [{ key, value: otlpValue(v) }],
    );
    this.exporter.push({
      traceId: this.traceId,
      spanId: this.spanId,
      ...(this.parentSpanId ? { parentSpanId: this.parentSpanId } : {}),
      name: this.name,
      kind: this.kind,
      startTimeUnixNano: this.start,
      endTimeUnixNano: nowNanos(),
      attributes,
      status: this.status,
    });
  }
}

const NOOP_SPAN: Span = {
  traceId: '0'.repeat(32),
  spanId: '0'.repeat(16),
  setAttributes() {},
  recordError() {},
  setParent() {},
  traceparent: () => '',
  end() {},
};

/** Batches finished spans and POSTs them as OTLP/HTTP JSON. */
class Exporter {
  private queue: OtlpSpan[] = [];
  private readonly url: string;
  private readonly resource: { attributes: Array<{ key: string; value: Record<string, unknown> }> };
  private readonly timer: NodeJS.Timeout;
  private sending: Promise<void> = Promise.resolve();
  private dropped = 0;

  constructor(private readonly config: TracingConfig) {
    this.url = `${config.endpoint?.replace(/\/+$/, '')}/v1/traces`;
    this.resource = {
      attributes: [
        { key: 'service.name', value: { stringValue: config.serviceName ?? 'vidmesh' } },
        ...(config.serviceVersion
          ? [{ key: 'service.version', value: { stringValue: config.serviceVersion } }]
          : []),
      ],
    };
    this.timer = setInterval(() => void this.flush(), config.flushIntervalMs ?? 1000);
    this.timer.unref();
  }

  push(span: OtlpSpan): void {
    if (this.queue.length >= MAX_QUEUE) {
      this.dropped++;
      return;
    }
    this.queue.push(span);
    if (this.queue.length >= BATCH) void this.flush();
  }

  /** Sends are chained so batches arrive in order and never overlap. */
  flush(): Promise<void> {
    this.sending = this.sending.then(async () => {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, BATCH);
        await this.send(batch);
      }
    });
    return this.sending;
  }

  async shutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  private async send(spans: OtlpSpan[]): Promise<void> {
    const body = JSON.stringify({
      resourceSpans: [
        {
          resource: this.resource,
          scopeSpans: [{ scope: { name: 'vidmesh', version: this.config.serviceVersion ?? '' }, spans }],
        },
      ],
    });
    try {
      const res = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(10_000),
      });
      await res.body?.cancel();
      if (!res.ok) this.config.log?.warn({ status: res.status, spans: spans.length }, 'OTLP export refused');
    } catch (err) {
      this.config.log?.warn({ err, spans: spans.length, dropped: this.dropped }, 'OTLP export failed');
    }
  }
}
