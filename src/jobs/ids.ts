import { randomBytes } from 'node:crypto';

const SHORT_ID_ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/** A job's short id: `j` + 10 characters of Crockford-style base32 (50 random bits). */
export function shortId(): string {
  const bytes = randomBytes(10);
  let out = 'j';
  for (const b of bytes) out += SHORT_ID_ALPHABET[b & 31];
  return out;
}
