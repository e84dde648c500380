import type { CaptureProgramChoice } from '../capture/capture-program.js';
import { CAPTURE_ROOT } from '../model/index.js';

/** Everything the agent needs, read once by the entry (src/cli) from flags. */
export interface AgentConfig {
  /** Base URL of the server (http or https), or a comma-separated list of replicas' URLs the agent rotates between when one fails. */
  serverUrl: string;
  /** One-time enrolment token from `nw vm extension set`; absent when the data folder already holds a credential. */
  enrollmentToken?: string;
  /**
   * Reusable join key (`nw vm join-key create`, or a scale set's install command): registers this
   * host and enrols it in one step. Used only when the data folder holds no credential yet, so the
   * same command can run at every boot.
   */
  joinKey?: string;
  /** Name the host joins as (default: its host name). */
  vmName?: string;
  /** Folder for the credential, capture bookkeeping and the spool of files waiting for upload. */
  dataDir: string;
  /** Local capture files must be under this folder (Azure's /var/captures). */
  captureRoot?: string;
  /** Interface tcpdump listens on. */
  interfaceName?: string;
  /** CA certificate file to trust for an https server with a private certificate. */
  caFile?: string;
  logLevel?: string;
  tcpdumpPath?: string;
  /**
   * Which program captures run (src/capture/capture-program.ts): 'auto' (default) nw-capture when
   * built and it runs, else tcpdump. Single files, rings ('tcpdump': the engine's cut of tcpdump's
   * stream) and the look-back buffer all follow it.
   */
  captureProgram?: CaptureProgramChoice;
  /** How long one upload may keep retrying before the capture reports StorageFailed (it keeps retrying after, less often). */
  uploadRetryBudgetInMs?: number;
  /** Interval between later upload retries after a StorageFailed. */
  uploadRetryIntervalInMs?: number;
}

/** Defaults of optional agent settings. */
export const AGENT_DEFAULTS = {
  captureRoot: CAPTURE_ROOT,
  interfaceName: 'any',
  uploadRetryBudgetInMs: 5 * 60_000,
  uploadRetryIntervalInMs: 60_000,
  /** How often a running capture's counters are reported (when they changed). */
  progressIntervalInMs: 2_000,
  /** How long the agent waits for the server's answer to an upload request or to an upload's verification before it counts as no answer. */
  serverAnswerTimeoutInMs: 30_000,
  /** Pause between two attempts at storing a file within its retry budget. */
  uploadRetryPauseInMs: 2_000,
  /** The uploader's own retries (without progress) get at least this much of what is left of the budget. */
  uploadAttemptMinBudgetInMs: 1_000,
} as const;

/** Version reported to the server. */
export const AGENT_VERSION = '0.1.0';
