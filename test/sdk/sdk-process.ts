/**
 * The test side of sdk-driver.ts: starts the driver process with the environment a user would
 * give Azure's SDK (NODE_EXTRA_CA_CERTS for a self-signed server) and calls SDK methods in it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const DRIVER = join(HERE, 'sdk-driver.ts');
const REPO_ROOT = join(HERE, '..', '..');

/** What the SDK threw, as the test sees it. */
export interface SdkErrorInfo {
  name: string;
  message: string;
  statusCode?: number;
  code?: string;
}

/** An SDK call failed; `info` has the SDK error's name, message, statusCode and code. */
export class SdkCallError extends Error {
  constructor(
    readonly method: string,
    readonly info: SdkErrorInfo,
  ) {
    super(`${method} failed: ${info.name} ${info.statusCode ?? ''} ${info.code ?? ''} ${info.message}`);
    this.name = 'SdkCallError';
  }
}

/** How to start the SDK process. */
export interface SdkProcessOptions {
  endpoint: string;
  token: string;
  subscriptionId?: string;
  /** PEM file trusted through NODE_EXTRA_CA_CERTS (absent: Node's default CAs only). */
  caFile?: string;
  /** Plain http with the SDK's documented set-up. */
  insecureHttp?: boolean;
}

/** A running SDK process. */
export class SdkProcess {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; method: string }>();
  private stderr = '';

  private constructor(private readonly child: ChildProcess) {}

  /** Starts the driver and waits until its clients are built. */
  static async start(options: SdkProcessOptions): Promise<SdkProcess> {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NW_SDK_ENDPOINT: options.endpoint,
      NW_SDK_TOKEN: options.token,
      NW_SDK_SUBSCRIPTION: options.subscriptionId ?? '00000000-0000-0000-0000-000000000000',
    };
    // Certificate checks stay on: only the given CA is added to Node's trusted ones.
    delete env.NODE_TLS_REJECT_UNAUTHORIZED;
    delete env.NODE_EXTRA_CA_CERTS;
    delete env.NODE_TEST_CONTEXT;
    if (options.caFile) env.NODE_EXTRA_CA_CERTS = options.caFile;
    if (options.insecureHttp) env.NW_SDK_INSECURE_HTTP = '1';
    const child = spawn(process.execPath, ['--import', 'tsx', DRIVER], {
      cwd: REPO_ROOT,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const sdk = new SdkProcess(child);
    const ready = new Promise<void>((resolve, reject) => {
      sdk.pending.set(0, { resolve: () => resolve(), reject, method: 'start' });
    });
    child.stderr!.on('data', (d: Buffer) => {
      sdk.stderr += d.toString();
    });
    createInterface({ input: child.stdout! }).on('line', (line) => sdk.onLine(line));
    child.on('exit', (code) => {
      for (const p of sdk.pending.values())
        p.reject(new Error(`the SDK process exited (${code}) during ${p.method}:\n${sdk.stderr}`));
      sdk.pending.clear();
    });
    await ready;
    return sdk;
  }

  private onLine(line: string): void {
    let message: { id: number; ok: boolean; value?: unknown; error?: SdkErrorInfo };
    try {
      message = JSON.parse(line) as typeof message;
    } catch {
      this.stderr += `${line}\n`; // something the SDK printed
      return;
    }
    const p = this.pending.get(message.id);
    if (!p) return;
    this.pending.delete(message.id);
    if (message.ok) p.resolve(message.value);
    else p.reject(new SdkCallError(p.method, message.error!));
  }

  /** Calls `client.group.method(...args)` in the SDK process; rejects with SdkCallError when the SDK throws. */
  call<T = Record<string, any>>(client: 'network' | 'compute', method: string, ...args: unknown[]): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, method: `${client}.${method}` });
      this.child.stdin!.write(`${JSON.stringify({ id, client, method, args })}\n`);
    });
  }

  /** Calls and expects the SDK to throw; returns what it threw. */
  async callFailing(client: 'network' | 'compute', method: string, ...args: unknown[]): Promise<SdkErrorInfo> {
    try {
      const value = await this.call(client, method, ...args);
      throw new Error(`${client}.${method} was expected to fail but returned ${JSON.stringify(value)}`);
    } catch (error) {
      if (error instanceof SdkCallError) return error.info;
      throw error;
    }
  }

  /** Whatever the process printed on stderr. */
  get output(): string {
    return this.stderr;
  }

  /** Ends the process. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}
