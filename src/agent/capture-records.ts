import { recoverCaptureFile } from '../capture/index.js';
import type { FileIdentity, Logger } from '../lib/index.js';
import type { AgentCaptureOrder, AgentCaptureState, AgentToServer } from '../model/index.js';
import type { CaptureFiles } from './capture-files.js';
import { killLeftover, type ProcessIdentity } from './orphans.js';

/** What the agent keeps about one capture (persisted, so a restarted agent still reports and uploads it). */
export interface CaptureRecord {
  order: AgentCaptureOrder;
  state: AgentCaptureState;
  /** True when the file lives in the agent's spool (no host path was asked for) and can go once stored. */
  spooled: boolean;
  /** The tcpdump of this capture while it runs, so a later agent can end it if this one dies. */
  tcpdump?: ProcessIdentity;
  /**
   * The identity of `state.file` when the engine hashed it (src/lib/file-identity.ts): the upload
   * compares it instead of hashing the file again. Absent in a record saved before it existed
   * (that file is then hashed as it is uploaded).
   */
  fileIdentity?: FileIdentity;
  /** The same for each ring file still in `state.ring.files`, by its sequence number. */
  ringFileIdentities?: Record<string, FileIdentity>;
}

/** Longest errorMessage a state carries: the protocol bounds messages (src/model/agent-protocol.ts), and a state the server refuses is never acknowledged. */
const MAX_ERROR_MESSAGE_LENGTH = 4000;

/**
 * The agent's captures and their saved states (`captures/{uid}.json` in the data folder), with
 * crash recovery: captures a previous agent process was running when it died are ended (their
 * tcpdump too) and their files recovered. Every change of a state is saved and sent; states stay
 * "unacknowledged" until the server confirms their sequence, and all of them go again in the
 * hello of the next connection.
 */
export class CaptureRecords {
  private readonly records = new Map<string, CaptureRecord>();
  /** Captures that were running when the previous agent process died (see recoverInterrupted). */
  private readonly interrupted: string[] = [];

  constructor(
    private readonly files: CaptureFiles,
    private readonly send: (msg: AgentToServer) => boolean,
    private readonly logger: Logger,
  ) {
    this.loadPersisted();
  }

  /** The record of a capture, if the agent knows it. */
  get(uid: string): CaptureRecord | undefined {
    return this.records.get(uid);
  }

  /** Every record. */
  all(): CaptureRecord[] {
    return [...this.records.values()];
  }

  /** Adds a new capture (not saved yet: the caller saves once its file is prepared). */
  add(rec: CaptureRecord): void {
    this.records.set(rec.state.captureUid, rec);
  }

  /** Forgets a capture and its saved state. */
  remove(uid: string): void {
    this.records.delete(uid);
    this.files.removeQuietly(this.files.data, `captures/${uid}.json`);
  }

  /**
   * Saves a capture's record. A failure (the data folder's disk is full) is logged and the agent
   * carries on: the state is still held in memory and sent, and the old saved state stays intact.
   */
  persist(rec: CaptureRecord): void {
    try {
      this.files.data.writeFileAtomic(`captures/${rec.state.captureUid}.json`, JSON.stringify(rec));
    } catch (error) {
      this.logger.error(
        { err: error, capture: rec.order.captureName },
        'could not save the capture state (disk full?); it is kept in memory and reported',
      );
    }
  }

  /** Changes a capture's state: the next sequence, saved and sent. */
  update(uid: string, change: Partial<AgentCaptureState>): void {
    const rec = this.records.get(uid);
    if (!rec) return;
    rec.state = { ...rec.state, ...change, sequence: rec.state.sequence + 1 };
    if (rec.state.errorMessage !== null && rec.state.errorMessage.length > MAX_ERROR_MESSAGE_LENGTH)
      rec.state.errorMessage = `${rec.state.errorMessage.slice(0, MAX_ERROR_MESSAGE_LENGTH - 1)}…`;
    this.persist(rec);
    this.send({ type: 'capture.state', state: rec.state });
  }

  /** Captures a previous agent process left: finished ones are reported and their uploads resumed; ones it was running ended with it. */
  private loadPersisted(): void {
    for (const name of this.files.data.list('captures', true).filter((n) => n.endsWith('.json'))) {
      try {
        const rec = JSON.parse(
          this.files.data.readFile(`captures/${name}`)?.toString('utf8') ?? 'null',
        ) as CaptureRecord;
        if (rec.state.status === 'Running' || rec.state.status === 'NotStarted') {
          // tcpdump died with the previous agent process; what it wrote is recovered by recoverInterrupted().
          rec.state = {
            ...rec.state,
            status: 'Error',
            stopReason: 'AgentStopped',
            errors: [...new Set([...rec.state.errors, 'AgentStopped' as const])],
            errorMessage: 'The agent stopped while the capture was running.',
            sequence: rec.state.sequence + 1,
          };
          this.interrupted.push(rec.state.captureUid);
          // Its tcpdump may still run (it only dies when it next writes to the dead agent's pipe).
          if (rec.tcpdump && killLeftover(rec.tcpdump))
            this.logger.warn(
              { capture: rec.order.captureName, pid: rec.tcpdump.pid },
              'ended the tcpdump a previous agent process left running',
            );
          delete rec.tcpdump;
        }
        this.records.set(rec.state.captureUid, rec);
        this.persist(rec);
      } catch (error) {
        this.logger.warn({ err: error, file: name }, 'could not read a saved capture state; skipped');
      }
    }
  }

  /**
   * Keeps the packets of captures that were running when the previous agent process died: their
   * files are cut after the last complete record and become the captures' files, to be stored
   * like any other (no data is lost because the agent was killed). Call before connecting.
   */
  async recoverInterrupted(): Promise<void> {
    for (const uid of this.interrupted.splice(0)) {
      const rec = this.records.get(uid);
      if (!rec) continue;
      try {
        const path = this.files.fileLocation(rec.order);
        const recovered = await this.files.withFile(rec.order, true, (held) => recoverCaptureFile(held));
        if (!recovered) continue;
        rec.state = {
          ...rec.state,
          packetsCaptured: recovered.packetsCaptured,
          bytesCaptured: recovered.sizeInBytes,
          file: {
            path: path.dir.resolve(path.rel),
            sizeInBytes: recovered.sizeInBytes,
            sha256: recovered.sha256,
            stored: false,
          },
          sequence: rec.state.sequence + 1,
        };
        rec.fileIdentity = recovered.fileIdentity;
        this.persist(rec);
        this.logger.info(
          { capture: rec.order.captureName, packets: recovered.packetsCaptured },
          'recovered the file of a capture interrupted by an agent stop',
        );
      } catch (error) {
        this.logger.warn(
          { err: error, capture: rec.order.captureName },
          'could not recover the file of an interrupted capture; it is left as it is',
        );
      }
    }
  }
}
