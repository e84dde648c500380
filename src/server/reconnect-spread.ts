import { AGENT_RECONNECT_SPREAD_LIMITS } from '../model/index.js';

/**
 * Agent handshakes one replica admits a second when its agents all come back at once (a
 * restart, a cut): 10,000 agents were all back in 10–12 s on a quiet machine (bench/scale).
 * The spread it announces is sized so that the fleet arrives at about this rate.
 */
export const AGENT_ADMISSIONS_PER_SECOND = 1000;

/**
 * The reconnect spread (seconds) to announce to the agents of a replica with `connected` agents
 * (issue 17): long enough that, if all of them lose their connection at once, their handshakes
 * arrive at the rate the replica admits — 100 agents within 1 s, 10,000 over 10 s.
 *
 * Why the server says it and not the agent: the agents' own jitter (0.25–1 s on the first retry)
 * packed 10,000 returns into 0.75 s, >13,000 connection attempts a second. The kernel's accept
 * queue (4,096 here, `net.core.somaxconn`) filled, further SYNs were dropped (the client retries
 * them after 1, 3, 7 s), and a loaded replica took longer to drain the queue than the agents'
 * 10 s handshake timeout: the connections it accepted had already been given up, and each
 * retry queued again (bench/scale: ~1.8 million listen overflows, the accept queue full for
 * minutes, the event loop free). Only the server knows how many agents will come back together.
 */
export function reconnectSpreadInSeconds(
  connected: number,
  admissionsPerSecond: number = AGENT_ADMISSIONS_PER_SECOND,
): number {
  const { minSeconds, maxSeconds } = AGENT_RECONNECT_SPREAD_LIMITS;
  const seconds = Math.ceil(Math.max(0, connected) / Math.max(1, admissionsPerSecond));
  return Math.min(maxSeconds, Math.max(minSeconds, Number.isFinite(seconds) ? seconds : maxSeconds));
}

/**
 * Whether an agent told `told` seconds should be told `now` instead: only on a real change (half
 * or one and a half times), so a fleet that grows or shrinks costs each agent a handful of
 * welcomes, not one per arrival.
 */
export function spreadChanged(told: number, now: number): boolean {
  return now >= told * 1.5 || now <= told / 2;
}
