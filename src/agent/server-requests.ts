import type { AgentToServer } from '../model/index.js';

/**
 * Requests to the server whose answers come back as separate messages over the socket, matched
 * by request id. Each request waits at most `timeoutInMs`; a request that cannot be sent, or is
 * not answered in time, resolves with the caller's `unanswered` value (never rejects), so a lost
 * connection is an outcome like any other.
 */
export class ServerRequests<A> {
  private readonly pending = new Map<string, { resolve: (answer: A) => void; unanswered: A }>();

  constructor(
    private readonly send: (msg: AgentToServer) => boolean,
    private readonly timeoutInMs: number,
  ) {}

  /** Sends `msg` (which carries `requestId`) and resolves with its answer, or with `unanswered`. */
  ask(requestId: string, msg: AgentToServer, unanswered: A): Promise<A> {
    return new Promise<A>((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        resolve(unanswered);
      }, this.timeoutInMs);
      this.pending.set(requestId, {
        resolve: (answer) => {
          clearTimeout(timer);
          this.pending.delete(requestId);
          resolve(answer);
        },
        unanswered,
      });
      if (!this.send(msg)) {
        clearTimeout(timer);
        this.pending.delete(requestId);
        resolve(unanswered);
      }
    });
  }

  /** Delivers the server's answer to the request it names; an answer nobody waits for (late, or unknown) is dropped. */
  answer(requestId: string, answer: A): void {
    this.pending.get(requestId)?.resolve(answer);
  }

  /**
   * The connection the requests went out on is gone: no answer to them can come (the server
   * answers on the connection it was asked on), so each resolves with its unanswered value now
   * instead of at its timeout — an upload whose upload.done was in flight when the server stopped
   * retries as soon as it is back, not 30 s later.
   */
  abandonAll(): void {
    for (const { resolve, unanswered } of [...this.pending.values()]) resolve(unanswered);
  }
}
