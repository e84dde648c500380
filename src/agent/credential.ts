import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';

/** What an enrolled agent keeps: its own credential and identity. */
export interface AgentCredential { serverUrl: string; credential: string; vmId: string; vmName: string; location: string }

const FILE = 'credential.json';

/** Reads the saved credential, or null when the agent never enrolled here. */
export function loadCredential(dataDir: string): AgentCredential | null {
  const path = join(dataDir, FILE);
  if (!existsSync(path)) return null;
  return JSON.parse(readFileSync(path, 'utf8')) as AgentCredential;
}

/** Saves the credential readable by root only (it is the host's key to the server). */
export function saveCredential(dataDir: string, cred: AgentCredential): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, FILE);
  writeFileSync(`${path}.tmp`, JSON.stringify(cred, null, 2), { mode: 0o600 });
  chmodSync(`${path}.tmp`, 0o600);
  renameSync(`${path}.tmp`, path);
}
