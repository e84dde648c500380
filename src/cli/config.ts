import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { writeFileAtomically } from '../lib/index.js';
import { ConfigFileError } from './errors.js';

/** The subscription id used when none is configured (the seed's zero GUID). */
export const DEFAULT_SUBSCRIPTION_ID = '00000000-0000-0000-0000-000000000000';

/** What the CLI needs to talk to a server. Written by `nw login` and `nw up`. */
export interface CliConfig {
  /** Base URL of the server, e.g. https://nw.example:8817 (no trailing slash). */
  server?: string;
  /** Bearer token sent on every request. */
  token?: string;
  /** Subscription id put in every ARM path. */
  subscriptionId: string;
  /** PEM file of the CA that signed the server's certificate (self-signed servers). */
  caFile?: string;
}

/** The environment variables the CLI reads (main.ts passes process.env). */
export interface CliEnvironment {
  NW_CONFIG?: string | undefined;
  NW_SERVER?: string | undefined;
  NW_TOKEN?: string | undefined;
  NW_SUBSCRIPTION?: string | undefined;
}

/** Where the config file lives: $NW_CONFIG, else ~/.config/netwatcher/config.json. */
export function resolveConfigPath(env: CliEnvironment, homeDir: string): string {
  return env.NW_CONFIG && env.NW_CONFIG.length > 0
    ? env.NW_CONFIG
    : join(homeDir, '.config', 'netwatcher', 'config.json');
}

/**
 * Reads the config file (a missing file is an empty config) and applies the environment
 * overrides NW_SERVER, NW_TOKEN and NW_SUBSCRIPTION on top.
 * @example const config = await loadCliConfig('/home/me/.config/netwatcher/config.json', process.env);
 */
export async function loadCliConfig(path: string, env: CliEnvironment): Promise<CliConfig> {
  const fromFile = await readConfigFile(path);
  const config: CliConfig = { ...fromFile, subscriptionId: fromFile.subscriptionId ?? DEFAULT_SUBSCRIPTION_ID };
  if (env.NW_SERVER) config.server = env.NW_SERVER;
  if (env.NW_TOKEN) config.token = env.NW_TOKEN;
  if (env.NW_SUBSCRIPTION) config.subscriptionId = env.NW_SUBSCRIPTION;
  if (config.server) config.server = normalizeServerUrl(config.server);
  return config;
}

/** Strips trailing slashes so paths can be appended. */
export function normalizeServerUrl(url: string): string {
  return url.replace(/\/+$/, '');
}

async function readConfigFile(path: string): Promise<Partial<CliConfig>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new ConfigFileError(path, (error as Error).message);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ConfigFileError(path, 'it is not valid JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new ConfigFileError(path, 'it is not a JSON object');
  const raw = parsed as Record<string, unknown>;
  const config: Partial<CliConfig> = {};
  for (const key of ['server', 'token', 'subscriptionId', 'caFile'] as const) {
    const value = raw[key];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string') throw new ConfigFileError(path, `"${key}" must be a string`);
    config[key] = value;
  }
  return config;
}

/**
 * Writes the config file with mode 0600 (it holds a bearer token): to a temporary file first,
 * then renamed, so a crash never leaves half a file.
 */
export async function saveCliConfig(path: string, config: CliConfig): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const body: CliConfig = { subscriptionId: config.subscriptionId };
  if (config.server) body.server = config.server;
  if (config.token) body.token = config.token;
  if (config.caFile) body.caFile = config.caFile;
  writeFileAtomically(path, JSON.stringify(body, null, 2) + '\n', 0o600);
}
