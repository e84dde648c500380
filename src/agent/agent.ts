import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { createLogger } from '../lib/index.js';
import {
  AGENT_CONNECT_PATH,
  AGENT_ENROLL_PATH,
  AGENT_JOIN_PATH,
  AGENT_PROTOCOL_VERSION,
  reportableHostname,
} from '../model/index.js';
import { captureProgramName, chooseCaptureProgram } from '../capture/capture-program.js';
import { CaptureManager } from './capture-manager.js';
import { AGENT_DEFAULTS, AGENT_VERSION, type AgentConfig } from './config.js';
import { captureReadiness } from './capability.js';
import { ServerConnection } from './connection.js';
import { loadCredential, saveCredential, type AgentCredential } from './credential.js';
import {
  DEFAULT_METRICS_INTERVAL_IN_MS,
  clockOffsetOf,
  startHostMetrics,
  type AgentMetricsConfig,
  type HostMetricsReporter,
} from './metrics.js';

/** A running agent. */
export interface RunningAgent {
  /** ARM id of the VM this agent is. */
  vmId: string;
  /** Why captures would fail on this host (also logged at start); empty when ready. */
  warnings?: string[];
  close(): Promise<void>;
}

/** The agent could not start (enrolment refused, no credential, server unreachable at enrolment). */
export class AgentStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AgentStartError';
  }
}

/** POSTs JSON with node's http(s) (so a private CA file can be trusted). */
function postJson(url: string, body: unknown, caFile?: string): Promise<{ status: number; body: unknown }> {
  const target = new URL(url);
  const payload = Buffer.from(JSON.stringify(body));
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      target,
      {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Content-Length': payload.length },
        ...(target.protocol === 'https:' && caFile ? { agent: new HttpsAgent({ ca: readFileSync(caFile) }) } : {}),
        timeout: 15_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            /* keep text */
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(payload);
  });
}

/**
 * The server addresses of a `--server` value: one URL, or a comma-separated list of replicas'
 * URLs (the agent rotates between them when one fails), without trailing slashes.
 * @example serverUrlsOf('https://nw1:8817,https://nw2:8817') // ['https://nw1:8817', 'https://nw2:8817']
 */
export function serverUrlsOf(value: string): string[] {
  const urls = value
    .split(',')
    .map((u) => u.trim().replace(/\/+$/, ''))
    .filter(Boolean);
  if (urls.length === 0) throw new AgentStartError('no server address given (--server URL)');
  return urls;
}

/**
 * Trades the one-time enrolment token — or the reusable join key, which also registers the host
 * (as `vmName`, default its host name) — for this host's credential and saves it.
 */
async function enroll(config: AgentConfig): Promise<AgentCredential> {
  const servers = serverUrlsOf(config.serverUrl);
  const host = reportableHostname(hostname());
  const [path, body] = config.joinKey
    ? [
        AGENT_JOIN_PATH,
        { joinKey: config.joinKey, hostname: host, ...(config.vmName ? { vmName: config.vmName } : {}) },
      ]
    : [AGENT_ENROLL_PATH, { token: config.enrollmentToken, hostname: host }];
  let res;
  const failures: string[] = [];
  // Any replica can enrol: the first that answers does.
  for (const base of servers) {
    try {
      res = await postJson(`${base}${path}`, body, config.caFile);
      break;
    } catch (error) {
      failures.push(`${base}: ${(error as Error).message}`);
    }
  }
  if (!res)
    throw new AgentStartError(
      `cannot reach the server to ${config.joinKey ? 'join' : 'enrol'} (${failures.join('; ')})`,
    );
  const base = servers.join(',');
  if (res.status !== 200) {
    const message = (res.body as { error?: { message?: string } })?.error?.message ?? `HTTP ${res.status}`;
    throw new AgentStartError(`${config.joinKey ? 'join' : 'enrolment'} refused: ${message}`);
  }
  const b = res.body as { credential: string; vmId: string; vmName: string; location: string };
  const cred: AgentCredential = {
    serverUrl: base,
    credential: b.credential,
    vmId: b.vmId,
    vmName: b.vmName,
    location: b.location,
  };
  saveCredential(config.dataDir, cred);
  return cred;
}

/**
 * Starts an agent: enrols with the one-time token (or uses the credential saved by an earlier
 * enrolment), then keeps a connection to the server and runs the captures it orders.
 * @example
 * const agent = await startAgent({ serverUrl: 'https://nw:8817', enrollmentToken, dataDir: '/var/lib/nw-agent' });
 * console.log(agent.vmId, agent.warnings);
 * await agent.close();
 */
export async function startAgent(config: AgentConfig & AgentMetricsConfig): Promise<RunningAgent> {
  const logger = createLogger({ name: 'nw-agent', level: config.logLevel });
  // Said now, not at the first capture's failure.
  const warnings = captureReadiness({
    tcpdumpPath: config.tcpdumpPath ?? 'tcpdump',
    pathVariable: process.env['PATH'],
    uid: process.getuid?.() ?? 0,
  });
  // Which program captures, and why, said once at start (the probe is cached: captures reuse it).
  const program = await chooseCaptureProgram({
    choice: config.captureProgram ?? 'auto',
    ...(config.tcpdumpPath ? { tcpdumpPath: config.tcpdumpPath } : {}),
  });
  if (program.kind === null) warnings.push(`cannot capture: ${program.reason}`);
  for (const warning of warnings) logger.warn(warning);
  if (program.kind !== null)
    logger.info(
      { captureProgram: program.kind, path: program.path },
      `captures run ${captureProgramName(program.kind)}: ${program.reason}`,
    );
  let cred = loadCredential(config.dataDir);
  if (config.enrollmentToken) cred = await enroll(config);
  // A join key registers a new host: once joined, the saved credential is used (the command may run at every boot).
  else if (config.joinKey && !cred) cred = await enroll(config);
  else if (config.joinKey)
    logger.info({ vm: cred?.vmId }, 'already joined: using the saved credential, not the join key');
  if (!cred)
    throw new AgentStartError(
      `no credential in ${config.dataDir}: run the install command from 'nw vm extension set' (it carries a one-time --token).`,
    );
  const serverUrls = serverUrlsOf(config.serverUrl || cred.serverUrl);
  const serverUrl = serverUrls.join(',');
  const wsUrls = serverUrls.map((u) => `${u.replace(/^http/, 'ws')}${AGENT_CONNECT_PATH}`);
  const connection = new ServerConnection(wsUrls, cred.credential, logger, config.caFile);
  const manager = new CaptureManager({
    dataDir: config.dataDir,
    captureRoot: config.captureRoot ?? AGENT_DEFAULTS.captureRoot,
    interfaceName: config.interfaceName ?? AGENT_DEFAULTS.interfaceName,
    ...(config.tcpdumpPath ? { tcpdumpPath: config.tcpdumpPath } : {}),
    ...(config.captureProgram ? { captureProgram: config.captureProgram } : {}),
    uploadRetryBudgetInMs: config.uploadRetryBudgetInMs ?? AGENT_DEFAULTS.uploadRetryBudgetInMs,
    uploadRetryIntervalInMs: config.uploadRetryIntervalInMs ?? AGENT_DEFAULTS.uploadRetryIntervalInMs,
    send: (msg) => connection.send(msg),
    logger,
    ...(config.caFile ? { serverCa: readFileSync(config.caFile, 'utf8') } : {}),
  });
  // What the connected server announced in its welcome; null until then and after a disconnect (the next may be an older replica).
  let metricsBatchIntervalInSeconds: number | null = null;
  // And whether it acknowledges batches: the offset of its clock from ours, measured from that welcome.
  let metricBatchAcks: { clockOffsetInMs: number } | null = null;
  let hostMetrics: HostMetricsReporter | undefined;
  connection.on('open', () => {
    metricsBatchIntervalInSeconds = null;
    metricBatchAcks = null;
    connection.send({
      type: 'hello',
      protocolVersion: AGENT_PROTOCOL_VERSION,
      agentVersion: AGENT_VERSION,
      hostname: reportableHostname(hostname()),
      captures: manager.states(),
      // This agent keeps its side of the connection alive (ServerConnection): the server need not ping it while it reports.
      pingsWhenSilent: true,
    });
    manager.onConnected();
  });
  connection.on('close', () => {
    metricsBatchIntervalInSeconds = null;
    metricBatchAcks = null;
    hostMetrics?.onDisconnected();
    manager.onDisconnected();
  });
  connection.on('message', (msg) => {
    if (msg.type === 'welcome') {
      metricsBatchIntervalInSeconds = msg.metricsBatchIntervalInSeconds ?? null;
      metricBatchAcks = msg.metricBatchAcks ? { clockOffsetInMs: clockOffsetOf(msg.metricBatchAcks.serverTime) } : null;
    }
    if (msg.type === 'metrics.ack') hostMetrics?.onAck(msg.throughId);
    else manager.handle(msg);
  });
  await manager.recoverInterrupted();
  connection.start();
  try {
    hostMetrics = await startHostMetrics({
      intervalInMs: config.metricsIntervalInMs ?? DEFAULT_METRICS_INTERVAL_IN_MS,
      send: (msg) => connection.send(msg),
      batchIntervalInSeconds: () => metricsBatchIntervalInSeconds,
      metricBatchAcks: () => metricBatchAcks,
      captureStates: () => manager.states(),
      lookbackState: () => manager.lookbackState(),
      isConnected: () => connection.isOpen,
      ...(config.metricsListen ? { listen: config.metricsListen } : {}),
      logger,
      vmId: cred.vmId,
      agentVersion: AGENT_VERSION,
    });
  } catch (error) {
    await manager.close();
    connection.close();
    throw new AgentStartError(
      `cannot serve metrics on ${config.metricsListen?.host}:${config.metricsListen?.port}: ${(error as Error).message}`,
    );
  }
  logger.info({ vm: cred.vmId, server: serverUrl }, 'agent started');
  return {
    vmId: cred.vmId,
    warnings,
    async close() {
      await hostMetrics.close();
      await manager.close();
      // Give the final states a moment to leave before the socket closes.
      await new Promise((r) => setTimeout(r, 100));
      connection.close();
    },
  };
}
