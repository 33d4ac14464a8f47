import stringify from 'safe-stable-stringify';

/**
 * JSON with object keys sorted (recursively, by UTF-16 code units), no whitespace: the bytes the
 * 3Speak encoder's `dids` stack signs (key-did-provider-ed25519 sorts with fast-json-stable-stringify).
 * Throws `TypeError` for values JSON cannot represent exactly (bigint, NaN, ±Infinity, functions,
 * cycles), so a signature never covers something the verifier would read differently; `undefined`
 * properties are left out, as `JSON.stringify` does.
 */
export const canonicalJson: (value: unknown) => string = (() => {
  const fn = stringify.configure({
    deterministic: true,
    strict: true,
    bigint: false,
    circularValue: TypeError,
  });
  return (value: unknown): string => {
    let out: string | undefined;
    try {
      out = fn(value);
    } catch (cause) {
      throw new TypeError('value is not representable as JSON', { cause });
    }
    if (typeof out !== 'string') throw new TypeError('value is not representable as JSON');
    return out;
  };
})();
