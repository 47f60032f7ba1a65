import { createCipheriv, createDecipheriv, createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * WeChat open-data crypto: AES-128-CBC with PKCS#7, key = base64-decoded session_key (16 bytes),
 * and the rawData signature sha1(rawData + session_key).
 * https://developers.weixin.qq.com/miniprogram/dev/framework/open-ability/signature.html
 */

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Why decryption failed, for the log; the client only ever sees WECHAT_DECRYPT_FAILED. */
export class DecryptError extends Error {
  override name = 'DecryptError';
}

/** Strict base64 (standard alphabet, padded): WeChat sends nothing else. */
export function decodeBase64(value: string, expectedBytes?: number): Buffer | null {
  if (value.length === 0 || value.length % 4 !== 0 || !BASE64.test(value)) return null;
  const bytes = Buffer.from(value, 'base64');
  if (expectedBytes !== undefined && bytes.length !== expectedBytes) return null;
  return bytes;
}

export function isBase64(value: string, expectedBytes?: number): boolean {
  return decodeBase64(value, expectedBytes) !== null;
}

/** Removes PKCS#7 padding, checking every pad byte (block size 16), unlike WeChat's own samples. */
function unpad(data: Buffer): Buffer {
  const pad = data.at(-1);
  if (pad === undefined || pad < 1 || pad > 16 || pad > data.length) throw new DecryptError('bad padding');
  for (let i = data.length - pad; i < data.length; i++) {
    if (data[i] !== pad) throw new DecryptError('bad padding');
  }
  return data.subarray(0, data.length - pad);
}

function pad(data: Buffer): Buffer {
  const n = 16 - (data.length % 16);
  return Buffer.concat([data, Buffer.alloc(n, n)]);
}

/**
 * Decrypts a mini program's encryptedData with the session key and checks the watermark appid.
 * Throws DecryptError on any failure.
 */
export function decryptUserData(
  sessionKey: string,
  encryptedData: string,
  iv: string,
  appId: string,
): Record<string, unknown> {
  const key = decodeBase64(sessionKey, 16);
  const ivBytes = decodeBase64(iv, 16);
  const cipherText = decodeBase64(encryptedData);
  if (!key) throw new DecryptError('session key is not 16 bytes of base64');
  if (!ivBytes) throw new DecryptError('iv is not 16 bytes of base64');
  if (!cipherText || cipherText.length % 16 !== 0) throw new DecryptError('encryptedData is not AES blocks');
  let plain: Buffer;
  try {
    const decipher = createDecipheriv('aes-128-cbc', key, ivBytes);
    decipher.setAutoPadding(false);
    plain = unpad(Buffer.concat([decipher.update(cipherText), decipher.final()]));
  } catch (error) {
    if (error instanceof DecryptError) throw error;
    throw new DecryptError('AES decryption failed');
  }
  let data: unknown;
  try {
    data = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(plain));
  } catch {
    throw new DecryptError('plaintext is not UTF-8 JSON');
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data))
    throw new DecryptError('not a JSON object');
  const watermark = (data as { watermark?: { appid?: unknown } }).watermark;
  if (!watermark || watermark.appid !== appId) throw new DecryptError('watermark appid is not ours');
  return data as Record<string, unknown>;
}

/** The inverse of decryptUserData, for the emulator. */
export function encryptUserData(sessionKey: string, data: unknown, iv: Buffer): string {
  const key = decodeBase64(sessionKey, 16);
  if (!key) throw new DecryptError('session key is not 16 bytes of base64');
  const cipher = createCipheriv('aes-128-cbc', key, iv);
  cipher.setAutoPadding(false);
  const plain = pad(Buffer.from(JSON.stringify(data), 'utf8'));
  return Buffer.concat([cipher.update(plain), cipher.final()]).toString('base64');
}

/** sha1(rawData + session_key), lowercase hex. */
export function rawDataSignature(rawData: string, sessionKey: string): string {
  return createHash('sha1')
    .update(rawData + sessionKey, 'utf8')
    .digest('hex');
}

/** Compares a rawData signature in constant time. */
export function verifyRawDataSignature(rawData: string, signature: string, sessionKey: string): boolean {
  const expected = Buffer.from(rawDataSignature(rawData, sessionKey), 'utf8');
  const given = Buffer.from(signature.toLowerCase(), 'utf8');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** /wxa/checksession signature: hex(HMAC-SHA256(key = session_key text, message = "")). */
export function sessionKeySignature(sessionKey: string, message = ''): string {
  return createHmac('sha256', sessionKey).update(message).digest('hex');
}
