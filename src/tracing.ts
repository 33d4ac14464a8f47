import type * as OtelApi from '@opentelemetry/api';
import type { Logger } from './log.js';

/**
 * Tracing on the official OpenTelemetry JS SDK (`@opentelemetry/sdk-trace-base` with the
 * `@opentelemetry/exporter-trace-otlp-http` exporter, W3C Trace Context from `@opentelemetry/core`,
 * AsyncLocalStorage context from `@opentelemetry/context-async-hooks`), on only when an OTLP endpoint is
 * configured (`OTEL_EXPORTER_OTLP_ENDPOINT`). Off, every function here is a plain call-through: no spans,
 * no timers, no I/O, and the SDK is not even loaded (it is imported by {@link initTracing}, so a node
 * without tracing does not pay its ~50 ms of module loading).
 *
 * This module keeps vidmesh's small surface over the SDK: callers never see OpenTelemetry types, and
 * the provider is not registered globally (libraries that probe the global API, such as drizzle-orm,
 * stay silent).
 *
 * Formats:
 * - `traceparent`: W3C Trace Context §3.2, `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`.
 * - Export: OTLP/HTTP JSON (`ExportTraceServiceRequest`) to `<endpoint>/v1/traces`, by the SDK's
 *   batch processor.
 *
 * Terminology: a **span** is one timed operation; the **current** span is the one whose callback is
 * running (AsyncLocalStorage), and new spans are its children unless a `traceparent` names another
 * parent.
 */

/** Settings of {@link initTracing}. */
export interface TracingConfig {
  /** OTLP/HTTP base URL (`http://collector:4318`); spans go to `<endpoint>/v1/traces`. Unset: off. */
  endpoint?: string;
  /** `service.name` resource attribute (default `vidmesh`). */
  serviceName?: string;
  /** Resource `service.version`. */
  serviceVersion?: string;
  /** Receives the SDK's warnings and errors (export failures), at warn level. */
  log?: Logger;
  /** Finished spans are sent at least this often, ms (default 1000). */
  flushIntervalMs?: number;
}

/** Attribute values OTLP carries; `undefined` values are dropped. */
export type SpanAttributes = Record<string, string | number | boolean | undefined>;

/** A started span. `end()` is idempotent; only ended, sampled spans are exported. */
export interface Span {
  /** 32 lowercase hex digits (all zeros when tracing is off). */
  readonly traceId: string;
  /** 16 lowercase hex digits (all zeros when tracing is off). */
  readonly spanId: string;
  setAttributes(attrs: SpanAttributes): void;
  /** Marks the span failed (OTLP status ERROR) with the error's code or message. */
  recordError(err: unknown): void;
  /** W3C `traceparent` naming this span as parent ('' when tracing is off). */
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

/** Options of {@link startSpan} and {@link withSpan}. */
export interface SpanOptions {
  /** W3C traceparent of the parent; absent or malformed: the current span. */
  parent?: string;
  kind?: 'internal' | 'server' | 'client';
  /** Start time, ms since the Unix epoch (fractions allowed); default now. */
  startTime?: number;
}

/** What {@link initTracing} loaded and built; module state only while tracing is on. */
interface Sdk {
  api: typeof OtelApi;
  tracer: OtelApi.Tracer;
  propagator: OtelApi.TextMapPropagator;
  /** Flushes and stops the batch processor and exporter. */
  shutdown(): Promise<void>;
}

const TRACEPARENT_KEY = 'traceparent';
let active: Sdk | undefined;
let contextManagerSet = false;

/**
 * Starts tracing when `config.endpoint` is set (replacing a tracer started before) and returns its
 * handle; without an endpoint returns a disabled handle, changes nothing and loads nothing.
 */
export async function initTracing(config: TracingConfig): Promise<Tracing> {
  if (!config.endpoint) {
    return { enabled: false, flush: async () => {}, shutdown: async () => {} };
  }
  const [api, base, otlp, asyncHooks, core, resources] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/context-async-hooks'),
    import('@opentelemetry/core'),
    import('@opentelemetry/resources'),
  ]);
  // The context manager is process-wide in the API and can be set once; it outlives a shutdown (an
  // idle AsyncLocalStorage costs nothing) so a later initTracing reuses it.
  if (!contextManagerSet) {
    api.context.setGlobalContextManager(new asyncHooks.AsyncLocalStorageContextManager().enable());
    contextManagerSet = true;
  }
  const log = config.log;
  if (log) {
    const warn = (message: string, ...args: unknown[]) => log.warn({ otel: args }, message);
    api.diag.setLogger(
      { error: warn, warn, info: () => {}, debug: () => {}, verbose: () => {} },
      { logLevel: api.DiagLogLevel.WARN, suppressOverrideMessage: true },
    );
  }
  const provider = new base.BasicTracerProvider({
    resource: resources.defaultResource().merge(
      resources.resourceFromAttributes({
        'service.name': config.serviceName ?? 'vidmesh',
        ...(config.serviceVersion ? { 'service.version': config.serviceVersion } : {}),
      }),
    ),
    spanProcessors: [
      new base.BatchSpanProcessor(
        new otlp.OTLPTraceExporter({
          url: `${config.endpoint.replace(/\/+$/, '')}/v1/traces`,
          timeoutMillis: 10_000,
        }),
        // A collector that is down must not grow the heap: beyond 4096 waiting spans new ones drop.
        { scheduledDelayMillis: config.flushIntervalMs ?? 1000, maxQueueSize: 4096, maxExportBatchSize: 512 },
      ),
    ],
  });
  const sdk: Sdk = {
    api,
    tracer: provider.getTracer('vidmesh', config.serviceVersion),
    propagator: new core.W3CTraceContextPropagator(),
    shutdown: () => provider.shutdown().catch((err) => log?.warn({ err }, 'OTLP shutdown failed')),
  };
  void active?.shutdown();
  active = sdk;
  return {
    enabled: true,
    flush: () => provider.forceFlush().catch((err) => log?.warn({ err }, 'OTLP flush failed')),
    shutdown: async () => {
      if (active === sdk) active = undefined;
      await sdk.shutdown();
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
export function startSpan(name: string, attrs: SpanAttributes = {}, options: SpanOptions = {}): Span {
  const sdk = active;
  if (!sdk) return NOOP_SPAN;
  const { api } = sdk;
  const kind = { internal: api.SpanKind.INTERNAL, server: api.SpanKind.SERVER, client: api.SpanKind.CLIENT };
  const span = sdk.tracer.startSpan(
    name,
    { kind: kind[options.kind ?? 'internal'], attributes: defined(attrs), startTime: options.startTime },
    parentContext(sdk, options.parent),
  );
  return new LiveSpan(sdk, span);
}

/** Runs `fn` with `span` as the current span (its children and {@link currentTraceparent} see it). */
export function runInSpan<T>(span: Span, fn: () => T): T {
  const sdk = active;
  if (!(span instanceof LiveSpan) || !sdk) return fn();
  return sdk.api.context.with(sdk.api.trace.setSpan(sdk.api.context.active(), span.otel), fn);
}

/**
 * Runs `fn` inside a new child span of the current one and ends it when `fn` settles; a thrown or
 * rejected error marks the span failed and is rethrown unchanged. Off: just calls `fn`.
 */
export async function withSpan<T>(
  name: string,
  attrs: SpanAttributes,
  fn: (span: Span) => Promise<T> | T,
  options: SpanOptions = {},
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
  const sdk = active;
  if (!sdk) return undefined;
  const ctx = sdk.api.context.active();
  return sdk.api.trace.getSpan(ctx) ? inject(sdk, ctx) : undefined;
}

/** The context named by a valid `traceparent`, else the current one. */
function parentContext(sdk: Sdk, traceparent: string | undefined): OtelApi.Context {
  const { api } = sdk;
  if (traceparent) {
    const ctx = sdk.propagator.extract(
      api.ROOT_CONTEXT,
      { [TRACEPARENT_KEY]: traceparent },
      api.defaultTextMapGetter,
    );
    const parent = api.trace.getSpanContext(ctx);
    if (parent && api.isSpanContextValid(parent)) return ctx;
  }
  return api.context.active();
}

function inject(sdk: Sdk, ctx: OtelApi.Context): string {
  const carrier: Record<string, string> = {};
  sdk.propagator.inject(ctx, carrier, sdk.api.defaultTextMapSetter);
  return carrier[TRACEPARENT_KEY] ?? '';
}

function defined(attrs: SpanAttributes): OtelApi.Attributes {
  return Object.fromEntries(Object.entries(attrs).filter(([, v]) => v !== undefined));
}

class LiveSpan implements Span {
  constructor(
    private readonly sdk: Sdk,
    readonly otel: OtelApi.Span,
  ) {}

  get traceId(): string {
    return this.otel.spanContext().traceId;
  }

  get spanId(): string {
    return this.otel.spanContext().spanId;
  }

  setAttributes(attrs: SpanAttributes): void {
    this.otel.setAttributes(defined(attrs));
  }

  recordError(err: unknown): void {
    const e = err as { code?: unknown; message?: unknown } | undefined;
    const code = typeof e?.code === 'string' ? e.code : undefined;
    const message = code ?? (typeof e?.message === 'string' ? e.message : 'error');
    this.otel.setStatus({ code: this.sdk.api.SpanStatusCode.ERROR, message });
    if (code) this.otel.setAttribute('error.type', code);
  }

  traceparent(): string {
    return inject(this.sdk, this.sdk.api.trace.setSpan(this.sdk.api.ROOT_CONTEXT, this.otel));
  }

  end(): void {
    // The SDK warns (through diag) on a second end(); the interface promises idempotence.
    if (this.otel.isRecording()) this.otel.end();
  }
}

const NOOP_SPAN: Span = {
  traceId: '0'.repeat(32),
  spanId: '0'.repeat(16),
  setAttributes() {},
  recordError() {},
  traceparent: () => '',
  end() {},
};
