import { SecretBox, SecretKeyMismatchError } from './secrets.js';
import { asJson, type StoreCore } from './store-core.js';
import { sealedSecretParam } from './resources.js';

/** Server-wide settings shared by every replica (the `server_settings` table), and the sealing of secrets at rest. */
export class SettingQueries {
  constructor(private readonly core: StoreCore) {}

  /** A secret server-wide setting (sealed in the database when there is a key), created with `initial` the first time it is asked for. */
  async getOrCreateSecretSetting(name: string, initial: () => string): Promise<string> {
    const value = await this.getOrCreateSetting(name, () =>
      this.core.secrets ? this.core.secrets.seal(initial()) : initial(),
    );
    if (!SecretBox.isSealed(value)) return value;
    if (!this.core.secrets) throw new SecretKeyMismatchError(`setting '${name}' is sealed and no secret key was given`);
    return this.core.secrets.open(value);
  }

  /** A server-wide setting shared by every replica, created with `initial` the first time it is asked for. */
  async getOrCreateSetting(name: string, initial: () => string): Promise<string> {
    await this.core.db.query(
      'INSERT INTO server_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING',
      [name, initial()],
    );
    const rows = await this.core.db.query('SELECT value FROM server_settings WHERE name = $1', [name]);
    return String(rows[0]!.value);
  }

  /**
   * Seals every plaintext resource secret and secret setting (rows written before secrets were
   * encrypted, issue 9 point 6) and checks the key against the database's key check, storing one
   * on first use. Throws SecretKeyMismatchError when the key is not the database's. Returns how
   * many rows it sealed.
   */
  async sealPlaintextSecrets(secretSettings: readonly string[]): Promise<number> {
    if (!this.core.secrets) return 0;
    const box = this.core.secrets;
    const check = box.keyCheck();
    await this.core.db.query(
      'INSERT INTO server_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING',
      ['secret-key-check', check],
    );
    const stored = String(
      (await this.core.db.query('SELECT value FROM server_settings WHERE name = $1', ['secret-key-check']))[0]!.value,
    );
    if (!box.checks(stored))
      throw new SecretKeyMismatchError(
        "this secret key is not the one the database's secrets were sealed with: give every server of this database the same key file",
      );
    return this.core.transaction(async (tx) => {
      let sealed = 0;
      const rows = await tx.db.query(
        `SELECT key, secret FROM resources WHERE secret IS NOT NULL AND jsonb_typeof(secret) <> 'string'`,
      );
      for (const r of rows) {
        await tx.db.query('UPDATE resources SET secret = $2 WHERE key = $1', [
          r.key,
          sealedSecretParam(box, asJson(r.secret)),
        ]);
        sealed++;
      }
      for (const name of secretSettings) {
        const [row] = await tx.db.query('SELECT value FROM server_settings WHERE name = $1', [name]);
        if (row && !SecretBox.isSealed(row.value)) {
          await tx.db.query('UPDATE server_settings SET value = $2 WHERE name = $1', [
            name,
            box.seal(String(row.value)),
          ]);
          sealed++;
        }
      }
      return sealed;
    });
  }
}
