/**
 * Safety net against leaking key material into Events, logs and error texts. Callers must still never pass secrets;
 * this only catches the common case of a WireGuard key (32 bytes → 44 base64 characters ending in "=").
 */

const KEY_LIKE = /(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=(?![A-Za-z0-9+/=_-])/g;
const KEY_LIKE_URL = /(?<![A-Za-z0-9+/_-])[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]=?(?![A-Za-z0-9+/=_-])/g;

/** Placeholder that replaces a key-looking token. */
export const REDACTED = "[redacted]";

/** Replaces every token that looks like a base64 (or base64url) encoded 32-byte key with `[redacted]`. */
export function redactKeys(text: string): string {
  return text.replace(KEY_LIKE, REDACTED).replace(
    KEY_LIKE_URL,
    (m) => (/[A-Z]/.test(m) && /[0-9]/.test(m) ? REDACTED : m),
  );
}
