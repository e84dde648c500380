/**
 * The CLI's error classes. main.ts maps them to exit codes the way az does: 2 for a usage
 * error (argparse's code), 1 for everything else; each knows how to print itself on stderr.
 */

/** Base class: an error the CLI expects and prints without a stack trace. */
export class CliError extends Error {
  /** The process exit code for this error. */
  readonly exitCode: number = 1;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CliError';
  }

  /** The text printed on stderr (az style: `ERROR: …`). */
  render(): string {
    return `ERROR: ${this.message}`;
  }
}

/** Bad or missing arguments, found before anything is sent (exit code 2, as az and argparse). */
export class UsageError extends CliError {
  override readonly exitCode = 2;

  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The server answered with an ARM error body (`{"error":{"code","message","target"}}`). */
export class ApiResponseError extends CliError {
  /** HTTP status of the failing response. */
  readonly statusCode: number;
  /** ARM error code, e.g. ResourceNotFound. */
  readonly code: string;
  /** The offending field, when the server named one. */
  readonly target: string | undefined;

  constructor(statusCode: number, code: string, message: string, target?: string) {
    super(message);
    this.name = 'ApiResponseError';
    this.statusCode = statusCode;
    this.code = code;
    this.target = target;
  }

  // az (azure-core HttpResponseError) prints `(Code) Message` then Code/Message lines.
  override render(): string {
    const lines = [`ERROR: (${this.code}) ${this.message}`, `Code: ${this.code}`, `Message: ${this.message}`];
    if (this.target) lines.push(`Target: ${this.target}`);
    return lines.join('\n');
  }
}

/** A long-running operation ended in Failed or Canceled. */
export class OperationFailedError extends CliError {
  /** Error code from the operation document, if any. */
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = 'OperationFailedError';
    this.code = code;
  }

  override render(): string {
    return `ERROR: (${this.code}) ${this.message}\nCode: ${this.code}\nMessage: ${this.message}`;
  }
}

/** The server could not be reached at all (refused, DNS, TLS). */
export class ServerUnreachableError extends CliError {
  constructor(serverUrl: string, cause: unknown) {
    super(`cannot reach the netwatcher server at ${serverUrl}: ${describeCause(cause)}`, { cause });
    this.name = 'ServerUnreachableError';
  }
}

/** No server or token configured. */
export class NotLoggedInError extends CliError {
  constructor() {
    super(
      "no netwatcher server configured. Run 'nw login --server URL --token TOKEN', or 'nw up' to run one on this machine.",
    );
    this.name = 'NotLoggedInError';
  }
}

/** The CLI configuration file exists but cannot be used. */
export class ConfigFileError extends CliError {
  constructor(path: string, reason: string) {
    super(`the configuration file ${path} cannot be used: ${reason}`);
    this.name = 'ConfigFileError';
  }
}

/** No network watcher for a location (az: "network watcher is not enabled for region X."). */
export class WatcherNotFoundError extends CliError {
  constructor(location: string) {
    super(`network watcher is not enabled for region ${location}.`);
    this.name = 'WatcherNotFoundError';
  }
}

/** `wait` ran out of time. */
export class WaitTimeoutError extends CliError {
  constructor(timeoutInSeconds: number) {
    super(`Wait operation timed-out after ${timeoutInSeconds} seconds`);
    this.name = 'WaitTimeoutError';
  }
}

/** A download was refused or did not verify (existing file, size or SHA-256 mismatch). */
export class DownloadError extends CliError {
  constructor(message: string) {
    super(message);
    this.name = 'DownloadError';
  }
}

/** Text for an unknown cause (network errors from fetch hide the useful part in `cause`). */
export function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    const inner = (cause as { cause?: unknown }).cause;
    if (inner instanceof Error && inner.message) return inner.message;
    return cause.message;
  }
  return String(cause);
}
