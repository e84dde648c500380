/**
 * Messages between the server and an agent over the agent's WebSocket (`/agent/v1/connect`).
 * JSON, one message per frame, `type` first. The agent is the source of truth for what runs on
 * its host: on every (re)connect it sends `hello` with the state of every capture it knows, and
 * keeps sending `capture.state` until the server acknowledges it, so status and files survive a
 * lost connection on either side.
 *
 * The schemas here are the protocol: both ends parse every message they receive with them (a
 * message that does not parse is dropped and logged, never acted on), and the TypeScript types
 * are derived from them. Every string is bounded, every number ranged: neither a compromised host
 * nor a malicious server can hand the other an unbounded or ill-typed value.
 */
import { z } from 'zod';
import { CAPTURE_SETTINGS_LIMITS, PACKET_CAPTURE_LIMITS } from './packet-capture.js';

/** Longest look-back a host buffer keeps and a capture may ask for (src/capture LOOKBACK_LIMITS.maxSeconds). */
export const LOOKBACK_MAX_SECONDS = 3600;

/** Protocol version; bumped on incompatible changes. */
export const AGENT_PROTOCOL_VERSION = 1;

/**
 * An agent that said `pingsWhenSilent` in its hello pings the server after this long without a
 * word from it (the server answers with a pong, ws does that by itself); it gives the connection
 * up after {@link AGENT_SERVER_SILENCE_LIMIT_IN_MS} of silence, as every agent does.
 */
export const AGENT_PING_AFTER_SILENCE_IN_MS = 20_000;

/**
 * An agent drops a connection on which it heard nothing from the server for this long (a
 * half-open link: the server vanished without closing it) and reconnects. Older agents have it
 * too: a server must send each of them something more often than this.
 */
export const AGENT_SERVER_SILENCE_LIMIT_IN_MS = 35_000;

/** Path agents hold their WebSocket on. */
export const AGENT_CONNECT_PATH = '/agent/v1/connect';

/** Path where an agent trades its one-time enrolment token for a credential. */
export const AGENT_ENROLL_PATH = '/agent/v1/enroll';

/** Path where a host registers and enrols itself with a reusable join key (issue 14). */
export const AGENT_JOIN_PATH = '/agent/v1/join';

/** Where a netwatcher server hands out its self-signed CA certificate (unauthenticated; agents check its SHA-256 pin). */
export const AGENT_CA_PATH = '/agent/v1/ca.pem';

/** Protocol versions this server accepts at hello (an agent outside them is refused with close code {@link AGENT_CLOSE_INCOMPATIBLE}). */
export const AGENT_PROTOCOL_SUPPORTED = { min: 1, max: 1 } as const;

/** WebSocket close code with which a server refuses an agent whose protocol version it does not speak (4000–4999 are the application's). */
export const AGENT_CLOSE_INCOMPATIBLE = 4002;

/** Largest frame either side sends (capture states and metrics are small). */
export const AGENT_MAX_MESSAGE_BYTES = 1024 * 1024;

/** Most captures one hello may report. */
export const AGENT_MAX_CAPTURES_PER_HELLO = 10_000;

/**
 * A capture's unique id as both sides use it, also in the agent's file names: letters, digits and
 * dashes (the server makes UUIDs), so it can never climb out of a folder.
 */
export const captureUidSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/, 'a capture uid is 1-64 letters, digits or dashes');

/** A request id the agent chooses to pair a request with its answer. */
const requestIdSchema = z.string().regex(/^[A-Za-z0-9-]{1,64}$/);

/**
 * A host name an agent reports: an RFC 1123 name (letters, digits, dashes, dots; underscores
 * too, as real hosts have them), at most 253 characters; '' when the host's own name is not one.
 * It is shared state — alert-triggered capture finds hosts by it — so nothing else is stored.
 */
export const agentHostnameSchema = z
  .string()
  .max(253)
  .regex(
    /^([A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*)?$/,
    'a host name is letters, digits, dashes, underscores and dots (RFC 1123)',
  );

/** The host name this machine reports: its own when the protocol allows it, else ''. */
export function reportableHostname(name: string): string {
  return agentHostnameSchema.safeParse(name).success ? name : '';
}

const text = (max: number) => z.string().max(max);
const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);
const isoTime = z.iso.datetime({ offset: true });

/** Capture status values of queryStatus (packetCaptureStatus). */
export const packetCaptureStatusSchema = z.enum(['NotStarted', 'Running', 'Stopped', 'Error', 'Unknown']);
/** Azure's packetCaptureError values. */
export const packetCaptureErrorCodeSchema = z.enum([
  'InternalError',
  'AgentStopped',
  'CaptureFailed',
  'LocalFileFailed',
  'StorageFailed',
]);
/** stopReason values netwatcher reports. */
export const packetCaptureStopReasonSchema = z.enum([
  'TimeExceeded',
  'Manual',
  'SizeExceeded',
  'Error',
  'AgentStopped',
]);

/** What the agent must run for one capture on its host. */
export const agentCaptureOrderSchema = z.object({
  /** Unique per capture resource and host; a re-created capture of the same name gets a new one. */
  captureUid: captureUidSchema,
  /** Capture resource name, for logs. */
  captureName: text(256),
  bpfExpression: text(256 * 1024),
  snapLengthInBytes: z.number().int().min(0).max(PACKET_CAPTURE_LIMITS.maxBytesToCapturePerPacket),
  totalBytesLimit: z.number().int().min(0).max(PACKET_CAPTURE_LIMITS.maxTotalBytesPerSession),
  timeLimitInSeconds: z.number().int().min(0).max(604_800),
  /** Absolute path under the agent's capture root, or null: the file goes to the agent's spool. The agent checks it again (src/agent/paths.ts). */
  localFilePath: text(1024).nullable(),
  /** True when the file must be uploaded to a storage account (the server grants the upload). */
  upload: z.boolean(),
  /** Look-back (netwatcher's own, issue 13): the file begins with the host buffer's packets from this many seconds before `createdAt`. */
  lookbackInSeconds: z.number().int().min(1).max(LOOKBACK_MAX_SECONDS).optional(),
  /** When the capture was created on the server (the look-back counts back from it). */
  createdAt: isoTime.optional(),
  /**
   * Continuous capture (issue 13): run a ring of files instead of one file. The session then ends
   * at sessionTimeLimitInSeconds (timeLimitInSeconds and totalBytesLimit do not apply), files are
   * named after localFilePath (ring.cap → ring-000001.cap …) and each is uploaded as it closes.
   * Absent for single-file captures (older servers never send it).
   */
  ring: z
    .object({
      fileCount: z.number().int().min(2).max(CAPTURE_SETTINGS_LIMITS.maxFileCount),
      fileSizeInBytes: z.number().int().min(1).max(CAPTURE_SETTINGS_LIMITS.maxFileSizeInBytes),
      sessionTimeLimitInSeconds: z.number().int().min(1).max(CAPTURE_SETTINGS_LIMITS.maxSessionTimeLimitInSeconds),
    })
    .optional(),
});
/** What the agent must run for one capture on its host. */
export type AgentCaptureOrder = z.infer<typeof agentCaptureOrderSchema>;

/** One capture file as the agent knows it. */
export const agentCaptureFileSchema = z.object({
  path: text(4096),
  sizeInBytes: count,
  sha256: text(64),
  /** True once the server confirmed it is stored (size and hash checked). */
  stored: z.boolean(),
});
/** One capture file as the agent knows it. */
export type AgentCaptureFile = z.infer<typeof agentCaptureFileSchema>;

/** What a capture's look-back gave. */
export const agentCaptureLookbackSchema = z.object({
  /** createdAt minus lookbackInSeconds: how far back the capture asked. */
  requestedStartTime: isoTime,
  /** How far back the file really reaches (from then on it holds every buffered packet that passes the filters); null when the buffer gave nothing. */
  startTime: isoTime.nullable(),
  /** Buffered packets put before the live ones. */
  packets: count,
  /** Why the file reaches less far back than asked (no buffer, buffer shorter, size limit), or null. */
  reason: text(1024).nullable(),
});
/** What a capture's look-back gave. */
export type AgentCaptureLookback = z.infer<typeof agentCaptureLookbackSchema>;

/** Settings of a host's look-back buffer (`nw vm lookback enable`); null in lookback.configure turns it off. */
export const agentLookbackSettingsSchema = z.object({
  seconds: z.number().int().min(1).max(LOOKBACK_MAX_SECONDS),
  maxSizeInBytes: z
    .number()
    .int()
    .min(4 * 1024 * 1024)
    .max(64 * 1024 * 1024 * 1024),
  /** Bytes kept per packet, 0 = whole packets. */
  snapLengthInBytes: z.number().int().min(0).max(262144),
});
/** Settings of a host's look-back buffer. */
export type AgentLookbackSettings = z.infer<typeof agentLookbackSettingsSchema>;

/** What a host's look-back buffer holds now (agent → server, and the agent's Prometheus metrics). */
export const agentLookbackStateSchema = z.object({
  enabled: z.boolean(),
  running: z.boolean(),
  sizeInBytes: count,
  files: count,
  oldestPacketTime: isoTime.nullable(),
  spanInSeconds: z.number().min(0).max(1e9),
  packetsCaptured: count,
  kernelPacketsDropped: count,
  error: text(4096).nullable(),
});
/** What a host's look-back buffer holds now. */
export type AgentLookbackState = z.infer<typeof agentLookbackStateSchema>;
/** Most ring files one state lists (the newest); a state stays well under AGENT_MAX_MESSAGE_BYTES (≈ 300 bytes a file). */
export const AGENT_MAX_RING_FILES_PER_STATE = 2_000;

/** A ring file's sequence number: 1 for the first file of the session, then upward; it names the file and its blob. */
export const ringFileSequenceSchema = z.number().int().min(1).max(999_999_999);

/** One closed file of a continuous capture's ring, as the agent knows it. */
export const agentRingFileSchema = z.object({
  sequence: ringFileSequenceSchema,
  /** ring-000001.cap: the file's name on the host and (the server computes it again) in storage. */
  name: text(300),
  sizeInBytes: count,
  sha256: sha256Hex,
  packetsCaptured: count,
  firstPacketTime: isoTime.nullable(),
  lastPacketTime: isoTime.nullable(),
  /** True once the server confirmed it is stored (size and hash checked). */
  stored: z.boolean(),
});
/** One closed file of a continuous capture's ring. */
export type AgentRingFile = z.infer<typeof agentRingFileSchema>;

/**
 * The ring of a continuous capture on one host. `oldestSequence` is the lowest sequence still on
 * the host (or the next to come when none is): the server deletes every stored file below it,
 * so the storage account never keeps a file the ring has deleted — also after a lost connection,
 * as states are re-sent until acknowledged.
 */
export const agentRingStateSchema = z.object({
  oldestSequence: ringFileSequenceSchema,
  filesDeleted: count,
  /** The closed files on the host, oldest first (the newest AGENT_MAX_RING_FILES_PER_STATE). */
  files: z.array(agentRingFileSchema).max(AGENT_MAX_RING_FILES_PER_STATE),
});
/** The ring of a continuous capture on one host. */
export type AgentRingState = z.infer<typeof agentRingStateSchema>;

/** The state of one capture on one host. */
export const agentCaptureStateSchema = z.object({
  captureUid: captureUidSchema,
  status: packetCaptureStatusSchema,
  captureStartTime: isoTime.nullable(),
  stopReason: packetCaptureStopReasonSchema.nullable(),
  errors: z.array(packetCaptureErrorCodeSchema).max(16),
  errorMessage: text(4096).nullable(),
  packetsCaptured: count,
  bytesCaptured: count,
  kernelPacketsDropped: count.nullable(),
  kernelPacketsReceived: count.nullable(),
  file: agentCaptureFileSchema.nullable(),
  /** What the look-back of a capture that asked for one gave (additive; absent otherwise). */
  lookback: agentCaptureLookbackSchema.nullable().optional(),
  /** Continuous captures only: the ring's files. */
  ring: agentRingStateSchema.optional(),
  /** Monotonic per capture, so the server ignores states that arrive out of order. */
  sequence: count,
});
/** The state of one capture on one host. */
export type AgentCaptureState = z.infer<typeof agentCaptureStateSchema>;

/** Longest metric name and most metrics in one agent report. */
export const AGENT_METRIC_NAME_MAX_LENGTH = 128;
export const AGENT_METRICS_PER_REPORT_MAX = 256;

/** The values of one report or sample: metric name → number. */
const metricValuesSchema = z
  .record(text(AGENT_METRIC_NAME_MAX_LENGTH), z.number().finite())
  .refine(
    (v) => Object.keys(v).length <= AGENT_METRICS_PER_REPORT_MAX,
    `at most ${AGENT_METRICS_PER_REPORT_MAX} metrics`,
  );

/** One host metric report (agent → server, every second; the only form older servers take). */
const metricsReportSchema = z.object({
  type: z.literal('metrics'),
  at: isoTime,
  values: metricValuesSchema,
});
type MetricsReport = z.infer<typeof metricsReportSchema>;

/**
 * {@link metricsReportSchema} for the report that follows it plainly, without zod's generic
 * object and record machinery: a server with 10,000 agents parses 10,000 reports a second, and
 * the generic parse was a third of that path's cost (bench/scale profile). Anything unusual (a
 * value not a finite number, a long name, too many metrics, a `__proto__` key, a bad time)
 * returns null and goes through the schema, which decides and says why; a test holds the two to
 * the same verdicts. Unknown keys are dropped, as the schema's object does.
 */
export function plainMetricsReport(json: unknown): MetricsReport | null {
  if (json === null || typeof json !== 'object') return null;
  const { type, at, values } = json as Record<string, unknown>;
  if (type !== 'metrics' || typeof at !== 'string') return null;
  const out = plainMetricValues(values);
  if (!out || !isoTime.safeParse(at).success) return null;
  return { type: 'metrics', at, values: out };
}

/**
 * Batched host metrics (netwatcher's own, issue 17): the agent still samples every interval but
 * sends its samples together, one message every `metricsBatchIntervalInSeconds` — which the
 * server announces in its `welcome`. An agent that got no such welcome (an older server) sends
 * single `metrics` reports; a server accepts both at any time. Bounds of the announced interval.
 */
export const AGENT_METRICS_BATCH_INTERVAL_LIMITS = { minSeconds: 1, maxSeconds: 30 } as const;

/**
 * Reconnect spread (issue 17, reconnect storms): the window, in seconds, over which this server
 * wants its agents' reconnections spread when they all lose their connection at once (a restart,
 * a network cut). The server sizes it to its fleet and to the handshakes it admits a second
 * (src/server/reconnect-spread.ts) and announces it in its `welcome`; an agent keeps it for its
 * next drop (src/agent/connection.ts). Absent (an older server): the agent's own back-off alone.
 */
export const AGENT_RECONNECT_SPREAD_LIMITS = { minSeconds: 1, maxSeconds: 60 } as const;

/** Most samples in one `metrics.batch` (30 s of 0.1 s samples, or a reconnect's backlog in a few messages: ~350 bytes each, far under AGENT_MAX_MESSAGE_BYTES). */
export const AGENT_METRICS_SAMPLES_PER_BATCH_MAX = 300;

/**
 * How far a batch's `clockOffsetInMs` may be from the server's own estimate of it (arrival less
 * `sentAt`: the offset plus the transit) to be taken. Replicas' clocks agree within milliseconds
 * (NTP) and transit is milliseconds; past it (the host's clock stepped since it measured the
 * offset) the server places the batch by its own estimate, as a batch without an id.
 */
export const AGENT_CLOCK_OFFSET_TOLERANCE_IN_MS = 5_000;

/** Oldest sample a batch may carry, relative to its `sentAt` (the per-sample rows are kept an hour; an agent drops older ones). */
export const AGENT_METRICS_SAMPLE_MAX_AGE_IN_SECONDS = 3600;

/**
 * Acknowledged batches (issue 17, no sample lost when a replica dies): the largest batch id, and
 * the widest clock offset, either side takes. Ids are an agent's own count of the batches it sent
 * since it started (safe integers: 2^53 batches is 285 million years of one a second); the
 * offset is bounded only so that a hostile value cannot overflow a time (a host whose clock is
 * years off still reports: the server checks the offset against its own estimate).
 */
export const AGENT_METRICS_ACK_LIMITS = {
  maxBatchId: Number.MAX_SAFE_INTEGER,
  maxClockOffsetInMs: 100 * 365 * 24 * 3600 * 1000,
} as const;

/** A batch's id (see {@link AGENT_METRICS_ACK_LIMITS}). */
const metricsBatchIdSchema = z.number().int().min(1).max(AGENT_METRICS_ACK_LIMITS.maxBatchId);
const clockOffsetSchema = z
  .number()
  .int()
  .min(-AGENT_METRICS_ACK_LIMITS.maxClockOffsetInMs)
  .max(AGENT_METRICS_ACK_LIMITS.maxClockOffsetInMs);

/**
 * Several samples in one message (agent → server, every announced interval). Each sample keeps
 * its own time `at` on the agent's clock; `sentAt` is the agent's clock when it sent the message,
 * so the server places each sample `sentAt − at` before the message's arrival on its own clock
 * (a host's clock offset never moves a sample). Samples are in time order, none after `sentAt`,
 * none older than {@link AGENT_METRICS_SAMPLE_MAX_AGE_IN_SECONDS}.
 *
 * `id` and `clockOffsetInMs` (both or neither; only to a server whose welcome carried
 * `metricBatchAcks`): the batch's number, which the server's `metrics.ack` answers once its rows
 * are in the database, and the offset of the server's clock from the agent's as the agent
 * measured it from that welcome when it first sent the batch. An agent re-sends a batch not
 * acknowledged (to whichever replica it reaches next) with the same id, samples and offset, so
 * each sample is placed at the same time as the first time, `at + clockOffsetInMs`, and the
 * database keeps it once (unique by host and time). The server takes the offset only within
 * {@link AGENT_CLOCK_OFFSET_TOLERANCE_IN_MS} of its own estimate.
 */
const metricsBatchSchema = z
  .object({
    type: z.literal('metrics.batch'),
    sentAt: isoTime,
    id: metricsBatchIdSchema.optional(),
    clockOffsetInMs: clockOffsetSchema.optional(),
    samples: z
      .array(z.object({ at: isoTime, values: metricValuesSchema }))
      .min(1, 'a batch holds at least one sample')
      .max(AGENT_METRICS_SAMPLES_PER_BATCH_MAX, `a batch holds at most ${AGENT_METRICS_SAMPLES_PER_BATCH_MAX} samples`),
  })
  .superRefine((batch, ctx) => {
    if ((batch.id === undefined) !== (batch.clockOffsetInMs === undefined))
      ctx.addIssue({
        code: 'custom',
        path: ['id'],
        message: 'a batch carries both id and clockOffsetInMs, or neither',
      });
    const issue = batchTimesIssue(
      Date.parse(batch.sentAt),
      (i) => Date.parse(batch.samples[i]!.at),
      batch.samples.length,
    );
    if (issue) ctx.addIssue({ code: 'custom', path: ['samples', issue.index, 'at'], message: issue.message });
  });
type MetricsBatch = z.infer<typeof metricsBatchSchema>;

/** Why the times of a batch's samples do not hold (out of order, after sentAt, too old), or null. */
function batchTimesIssue(
  sentAtInMs: number,
  atOf: (index: number) => number,
  count: number,
): { index: number; message: string } | null {
  let previous = -Infinity;
  for (let i = 0; i < count; i++) {
    const at = atOf(i);
    if (at <= previous) return { index: i, message: 'samples are in strictly increasing time order' };
    if (at > sentAtInMs) return { index: i, message: 'a sample is not later than the batch sentAt' };
    if (sentAtInMs - at > AGENT_METRICS_SAMPLE_MAX_AGE_IN_SECONDS * 1000)
      return {
        index: i,
        message: `a sample is at most ${AGENT_METRICS_SAMPLE_MAX_AGE_IN_SECONDS} s older than sentAt`,
      };
    previous = at;
  }
  return null;
}

/** The values of one report or sample checked plainly (see {@link plainMetricsReport}), or null for the schema to decide. */
function plainMetricValues(values: unknown): Record<string, number> | null {
  if (values === null || typeof values !== 'object') return null;
  if (Array.isArray(values) || Object.getPrototypeOf(values) !== Object.prototype) return null;
  const out: Record<string, number> = {};
  let count = 0;
  for (const name of Object.keys(values)) {
    const v = (values as Record<string, unknown>)[name];
    if (
      name.length > AGENT_METRIC_NAME_MAX_LENGTH ||
      name === '__proto__' ||
      typeof v !== 'number' ||
      !Number.isFinite(v)
    )
      return null;
    out[name] = v;
    count++;
  }
  return count > AGENT_METRICS_PER_REPORT_MAX ? null : out;
}

/**
 * The times JavaScript's toISOString writes (what agents send): checked by this one pattern
 * before the schema's general ISO check, which the rest goes through.
 */
const PLAIN_ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const plainTime = (at: unknown): at is string =>
  typeof at === 'string' && PLAIN_ISO_TIME.test(at) && isoTime.safeParse(at).success;

/**
 * {@link metricsBatchSchema} for the batch that follows it plainly (as {@link plainMetricsReport}
 * for single reports): anything unusual returns null and goes through the schema, which decides
 * and says why; a test holds the two to the same verdicts.
 */
export function plainMetricsBatch(json: unknown): MetricsBatch | null {
  if (json === null || typeof json !== 'object') return null;
  const { type, sentAt, samples, id, clockOffsetInMs } = json as Record<string, unknown>;
  if (type !== 'metrics.batch' || !plainTime(sentAt) || !Array.isArray(samples)) return null;
  // Both or neither, each a whole number in range; anything else is the schema's to word.
  if ((id === undefined) !== (clockOffsetInMs === undefined)) return null;
  if (
    id !== undefined &&
    !(
      plainInteger(id, 1, AGENT_METRICS_ACK_LIMITS.maxBatchId) &&
      plainInteger(
        clockOffsetInMs,
        -AGENT_METRICS_ACK_LIMITS.maxClockOffsetInMs,
        AGENT_METRICS_ACK_LIMITS.maxClockOffsetInMs,
      )
    )
  )
    return null;
  if (samples.length < 1 || samples.length > AGENT_METRICS_SAMPLES_PER_BATCH_MAX) return null;
  const out: MetricsBatch['samples'] = [];
  for (const sample of samples as unknown[]) {
    if (sample === null || typeof sample !== 'object' || Array.isArray(sample)) return null;
    const { at, values } = sample as Record<string, unknown>;
    if (!plainTime(at)) return null;
    const checked = plainMetricValues(values);
    if (!checked) return null;
    out.push({ at, values: checked });
  }
  if (batchTimesIssue(Date.parse(sentAt), (i) => Date.parse(out[i]!.at), out.length)) return null;
  return id === undefined
    ? { type: 'metrics.batch', sentAt, samples: out }
    : { type: 'metrics.batch', sentAt, id: id as number, clockOffsetInMs: clockOffsetInMs as number, samples: out };
}

const plainInteger = (v: unknown, min: number, max: number): boolean =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

/** A single report or a batch checked plainly, or null for the schema to decide. */
function plainMetrics(json: unknown): MetricsReport | MetricsBatch | null {
  return plainMetricsReport(json) ?? plainMetricsBatch(json);
}

/** Agent → server, every message. */
export const agentToServerSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('hello'),
    protocolVersion: z.number().int().min(0).max(1_000_000),
    agentVersion: text(64),
    hostname: agentHostnameSchema,
    captures: z.array(agentCaptureStateSchema).max(AGENT_MAX_CAPTURES_PER_HELLO),
    /**
     * Issue 17, additive (absent from older agents): this agent pings the server when it has
     * heard nothing from it for {@link AGENT_PING_AFTER_SILENCE_IN_MS}, so the server need not
     * ping a connection it hears from (its reports prove it alive); the server pings it only
     * once it falls silent. Without it the server pings every connection as before.
     */
    pingsWhenSilent: z.literal(true).optional(),
  }),
  z.object({ type: z.literal('capture.state'), state: agentCaptureStateSchema }),
  z.object({ type: z.literal('lookback.state'), state: agentLookbackStateSchema }),
  /** `ringFileSequence`: which file of a continuous capture's ring (the server names its blob from it; absent = the capture's one file). */
  z.object({
    type: z.literal('upload.request'),
    requestId: requestIdSchema,
    captureUid: captureUidSchema,
    sizeInBytes: count,
    sha256: sha256Hex,
    ringFileSequence: ringFileSequenceSchema.optional(),
  }),
  z.object({
    type: z.literal('upload.done'),
    requestId: requestIdSchema,
    captureUid: captureUidSchema,
    sizeInBytes: count,
    sha256: sha256Hex,
    ringFileSequence: ringFileSequenceSchema.optional(),
  }),
  metricsReportSchema,
  metricsBatchSchema,
]);
/** Agent → server. */
export type AgentToServer = z.infer<typeof agentToServerSchema>;

/** Server → agent, every message. The grant's own shape is checked by src/storage (uploadGrantSchema) where it is used. */
export const serverToAgentSchema = z.discriminatedUnion('type', [
  /**
   * The answer to a hello. `metricsBatchIntervalInSeconds` (issue 17; absent from older servers):
   * this server takes `metrics.batch`, and the agent sends its samples every that many seconds.
   * `reconnectSpreadInSeconds` (issue 17; absent from older servers): spread the next
   * reconnection over that many seconds (AGENT_RECONNECT_SPREAD_LIMITS). A server may send a new
   * welcome at any time (its fleet grew, a rule changed); the latest one holds.
   */
  z.object({
    type: z.literal('welcome'),
    vmId: text(1024),
    location: text(256),
    metricsBatchIntervalInSeconds: z
      .number()
      .int()
      .min(AGENT_METRICS_BATCH_INTERVAL_LIMITS.minSeconds)
      .max(AGENT_METRICS_BATCH_INTERVAL_LIMITS.maxSeconds)
      .optional(),
    reconnectSpreadInSeconds: z
      .number()
      .int()
      .min(AGENT_RECONNECT_SPREAD_LIMITS.minSeconds)
      .max(AGENT_RECONNECT_SPREAD_LIMITS.maxSeconds)
      .optional(),
    /**
     * Issue 17, additive (absent from older servers): this server answers batches that carry an
     * id with `metrics.ack` once their rows are in the database, and keeps a re-sent sample once.
     * `serverTime` is its clock as it sent the welcome: the agent's measure of the offset it
     * sends with each batch (see metrics.batch).
     */
    metricBatchAcks: z.object({ serverTime: isoTime }).optional(),
  }),
  /**
   * Issue 17: every batch this connection carried with an id up to `throughId` (cumulative) has
   * its rows in the database; the agent may forget them. Sent only by a server that announced
   * `metricBatchAcks`, at most once per connection per liveness interval (10 s: one ack for many
   * batches). An agent ignores an ack for an id it never sent.
   */
  z.object({ type: z.literal('metrics.ack'), throughId: metricsBatchIdSchema }),
  z.object({ type: z.literal('capture.start'), order: agentCaptureOrderSchema }),
  z.object({ type: z.literal('capture.stop'), captureUid: captureUidSchema }),
  z.object({ type: z.literal('capture.forget'), captureUid: captureUidSchema, deleteFiles: z.boolean() }),
  z.object({ type: z.literal('capture.ack'), captureUid: captureUidSchema, sequence: count }),
  z.object({
    type: z.literal('upload.grant'),
    requestId: requestIdSchema,
    captureUid: captureUidSchema,
    grant: z.unknown(),
  }),
  /** `alreadyStored`: the server already holds and verified this file; the agent counts it as stored. */
  z.object({
    type: z.literal('upload.refused'),
    requestId: requestIdSchema,
    captureUid: captureUidSchema,
    reason: text(4096),
    retryable: z.boolean(),
    alreadyStored: z.literal(true).optional(),
  }),
  z.object({
    type: z.literal('upload.verified'),
    requestId: requestIdSchema,
    captureUid: captureUidSchema,
    ok: z.boolean(),
    reason: text(4096).optional(),
  }),
  /** Turns the host's look-back buffer on (or changes it) or, with null, off; sent on every change and after every hello. */
  z.object({ type: z.literal('lookback.configure'), settings: agentLookbackSettingsSchema.nullable() }),
  z.object({
    type: z.literal('file.fetch'),
    requestId: requestIdSchema,
    captureUid: captureUidSchema,
    ringFileSequence: ringFileSequenceSchema.optional(),
  }),
]);
/** Server → agent. */
export type ServerToAgent = z.infer<typeof serverToAgentSchema>;

/** Outcome of parsing one received frame. */
export type ParsedAgentMessage<T> = { ok: true; message: T } | { ok: false; reason: string };

function parseFrame<T>(schema: z.ZodType<T>, data: string, plain?: (json: unknown) => T | null): ParsedAgentMessage<T> {
  if (Buffer.byteLength(data) > AGENT_MAX_MESSAGE_BYTES) return { ok: false, reason: 'message too large' };
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  const fast = plain?.(json);
  if (fast) return { ok: true, message: fast };
  const result = schema.safeParse(json);
  if (result.success) return { ok: true, message: result.data };
  const issue = result.error.issues[0];
  return { ok: false, reason: `${issue?.path.join('.') || 'message'}: ${issue?.message ?? 'invalid'}` };
}

/** Parses a frame an agent sent; the server acts only on `ok` messages. */
export function parseAgentToServer(data: string): ParsedAgentMessage<AgentToServer> {
  return parseFrame(agentToServerSchema, data, plainMetrics);
}

/** Parses a frame the server sent; the agent acts only on `ok` messages. */
export function parseServerToAgent(data: string): ParsedAgentMessage<ServerToAgent> {
  return parseFrame(serverToAgentSchema, data);
}
