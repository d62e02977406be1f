import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * Encrypts secrets that must be read back (webhook signing secrets) with AES-256-GCM.
 * The key comes from SECRET_KEY, or is generated once into DATA_DIR/secret.key (mode 0600).
 */
export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  static fromKey(material: string): SecretBox {
    const key = /^[0-9a-fA-F]{64}$/.test(material)
      ? Buffer.from(material, 'hex')
      : Buffer.from(material, 'base64');
    if (key.length !== 32) throw new Error('SECRET_KEY must be 32 bytes, as 64 hex characters or base64');
    return new SecretBox(key);
  }

  static load(opts: { secretKey?: string; dataDir: string }): SecretBox {
    if (opts.secretKey) return SecretBox.fromKey(opts.secretKey);
    const file = path.join(opts.dataDir, 'secret.key');
    try {
      return SecretBox.fromKey(fs.readFileSync(file, 'utf8').trim());
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    fs.mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    const material = crypto.randomBytes(32).toString('hex');
    try {
      fs.writeFileSync(file, `${material}\n`, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      // Another process created it first: use theirs.
      if ((err as NodeJS.ErrnoException).code === 'EEXIST')
        return SecretBox.fromKey(fs.readFileSync(file, 'utf8').trim());
      throw err;
    }
    return SecretBox.fromKey(material);
  }

  seal(plain: string): string {
    const iv = crypto.randomBytes(12);
    const c = crypto.createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
    return `v1.${Buffer.concat([iv, c.getAuthTag(), body]).toString('base64url')}`;
  }

  open(sealed: string): string {
    if (!sealed.startsWith('v1.')) throw new Error('unknown secret format');
    const raw = Buffer.from(sealed.slice(3), 'base64url');
    const d = crypto.createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
    d.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8');
  }
}

export function mintWebhookSecret(): string {
  return `whsec_${crypto.randomBytes(24).toString('base64url')}`;
}
