import { didFromPublicKey, kidForDid } from '../../../src/identity/did.js';
import type { Signer } from '../../../src/identity/signing.js';

/**
 * The tab's encoder identity: an Ed25519 key pair made by WebCrypto (`crypto.subtle`, Ed25519 as in
 * RFC 8032 / WICG secure curves) with a **non-extractable** private key, kept in this origin's IndexedDB
 * so that a reload is the same did:key encoder, and no script can read the key out. The DID is the same
 * did:key format every vidmesh encoder has (docs/identity.md).
 */
export interface BrowserIdentity extends Signer {
  /** `did:key:z6Mk…` */
  readonly did: string;
}

const DB_NAME = 'vidmesh-encoder';
const STORE = 'keys';
const KEY = 'encoder';

function openDb(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function request<T>(
  db: IDBDatabase,
  mode: IDBTransactionMode,
  op: (s: IDBObjectStore) => IDBRequest<T>,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = op(db.transaction(STORE, mode).objectStore(STORE));
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/**
 * The stored identity, or a new one stored first. Throws when this browser has no WebCrypto Ed25519
 * (Chromium < 137, older Safari): such a tab cannot be an encoder.
 */
export async function loadOrCreateIdentity(): Promise<BrowserIdentity> {
  const db = await openDb();
  try {
    let pair = await request<CryptoKeyPair | undefined>(db, 'readonly', (s) => s.get(KEY));
    if (!pair) {
      pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, false, [
        'sign',
        'verify',
      ])) as CryptoKeyPair;
      // `add`, not `put`: a second tab that raced us keeps the first key, and we read it back.
      await request(db, 'readwrite', (s) => s.add(pair, KEY)).catch(() => undefined);
      pair = (await request<CryptoKeyPair | undefined>(db, 'readonly', (s) => s.get(KEY))) ?? pair;
    }
    const privateKey = pair.privateKey;
    const raw = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
    const did = didFromPublicKey(raw);
    return Object.freeze({
      did,
      kid: kidForDid(did),
      async sign(data: Uint8Array): Promise<Uint8Array> {
        return new Uint8Array(
          await crypto.subtle.sign('Ed25519', privateKey, data as Uint8Array<ArrayBuffer>),
        );
      },
    });
  } finally {
    db.close();
  }
}
