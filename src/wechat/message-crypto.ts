import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { decodeBase64, DecryptError } from './open-data.crypto.js';

/**
 * The crypto of WeChat's message push (服务器配置) to an Official Account's server URL, and of
 * WeCom's callbacks, which use the same scheme:
 * - the URL check and plain mode: `signature` = hex(SHA-1 of the sorted [token, timestamp, nonce],
 *   joined without separator);
 * - safe mode: `msg_signature` = the same over [token, timestamp, nonce, Encrypt]; `Encrypt` =
 *   base64(AES-256-CBC(key, iv = key[0..16], 16 random bytes + 4-byte big-endian length + message
 *   + receiver id (the appid; WeCom: the corpid)), padded with PKCS#7 to 32-byte blocks), key =
 *   base64(EncodingAESKey + "=").
 * https://developers.weixin.qq.com/doc/oplatform/Third-party_Platforms/2.0/api/Before_Develop/Message_encryption_and_decryption.html
 */

/** An EncodingAESKey is 43 characters of base64; with "=" it decodes to the 32-byte AES key. */
const ENCODING_AES_KEY = /^[A-Za-z0-9+/]{43}$/;
/** WeChat pads to 32-byte blocks (not AES's 16). */
const BLOCK = 32;
const RANDOM_BYTES = 16;

/** The 32-byte key of an EncodingAESKey; throws for anything that is not one. */
export function aesKeyOf(encodingAesKey: string): Buffer {
  if (!ENCODING_AES_KEY.test(encodingAesKey)) {
    throw new Error('an EncodingAESKey is 43 letters, digits, + or /');
  }
  return Buffer.from(`${encodingAesKey}=`, 'base64');
}

/** hex(SHA-1(the parts sorted as strings, joined)): `signature` and `msg_signature` alike. */
export function pushSignature(...parts: string[]): string {
  return createHash('sha1')
    .update([...parts].sort().join(''))
    .digest('hex');
}

/** Whether `presented` is `expected` (40 hex characters), in time independent of where they differ. */
export function signatureMatches(presented: string, expected: string): boolean {
  const a = Buffer.from(presented, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * The message inside a safe-mode `Encrypt`, once its padding, its length field and its receiver
 * (`receiverId`: our appid, or WeCom's corpid) check out; DecryptError otherwise (for the log: the
 * sender sees only a refusal).
 */
export function decryptPush(key: Buffer, encrypted: string, receiverId: string): string {
  const data = decodeBase64(encrypted);
  if (!data || data.length === 0 || data.length % BLOCK !== 0) throw new DecryptError('not whole blocks');
  const decipher = createDecipheriv('aes-256-cbc', key, key.subarray(0, 16));
  decipher.setAutoPadding(false);
  const padded = Buffer.concat([decipher.update(data), decipher.final()]);
  const pad = padded.at(-1)!;
  if (pad < 1 || pad > BLOCK) throw new DecryptError('bad padding');
  for (let i = padded.length - pad; i < padded.length; i++) {
    if (padded[i] !== pad) throw new DecryptError('bad padding');
  }
  const plain = padded.subarray(0, padded.length - pad);
  if (plain.length < RANDOM_BYTES + 4) throw new DecryptError('too short');
  const length = plain.readUInt32BE(RANDOM_BYTES);
  const end = RANDOM_BYTES + 4 + length;
  if (end > plain.length) throw new DecryptError('bad length');
  const receiver = plain.subarray(end);
  const expected = Buffer.from(receiverId, 'utf8');
  if (receiver.length !== expected.length || !timingSafeEqual(receiver, expected)) {
    throw new DecryptError('for another receiver');
  }
  return plain.subarray(RANDOM_BYTES + 4, end).toString('utf8');
}

/** A safe-mode `Encrypt` of `message` for `receiverId` (a passive reply; the emulator's pushes). */
export function encryptPush(
  key: Buffer,
  message: string,
  receiverId: string,
  random: Buffer = randomBytes(RANDOM_BYTES),
): string {
  const body = Buffer.from(message, 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length);
  const plain = Buffer.concat([random, length, body, Buffer.from(receiverId, 'utf8')]);
  const pad = BLOCK - (plain.length % BLOCK);
  const cipher = createCipheriv('aes-256-cbc', key, key.subarray(0, 16));
  cipher.setAutoPadding(false);
  return Buffer.concat([
    cipher.update(Buffer.concat([plain, Buffer.alloc(pad, pad)])),
    cipher.final(),
  ]).toString('base64');
}
