import { z } from 'zod';
import { ConfinedDir } from './confined-dir.js';

/** What an enrolled agent keeps: its own credential and identity. */
const agentCredentialSchema = z.object({
  serverUrl: z.string().min(1).max(2048),
  credential: z.string().min(1).max(1024),
  vmId: z.string().min(1).max(1024),
  vmName: z.string().min(1).max(256),
  location: z.string().min(1).max(256),
});

/** What an enrolled agent keeps: its own credential and identity. */
export type AgentCredential = z.infer<typeof agentCredentialSchema>;

const FILE = 'credential.json';

/** Reads the saved credential (never through a link), or null when the agent never enrolled here. */
export function loadCredential(dataDir: string): AgentCredential | null {
  const dir = ConfinedDir.open(dataDir);
  try {
    const text = dir.readFile(FILE);
    return text === null ? null : agentCredentialSchema.parse(JSON.parse(text.toString('utf8')));
  } finally {
    dir.close();
  }
}

/** Saves the credential readable by root only (it is the host's key to the server), replacing any link at its name rather than writing through it. */
export function saveCredential(dataDir: string, cred: AgentCredential): void {
  const dir = ConfinedDir.open(dataDir);
  try {
    dir.writeFileAtomic(FILE, JSON.stringify(agentCredentialSchema.parse(cred), null, 2), 0o600);
  } finally {
    dir.close();
  }
}
