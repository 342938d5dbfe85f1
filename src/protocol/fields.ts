/**
 * Field encoding: percent-encoded UTF-8. A plain ASCII name such as
 * `photo-1.jpg` travels as it is; a comma, a space, a '%', a control
 * character or any non-ASCII character travels as %XX bytes.
 */

// Bytes an encoder leaves as they are (those of encodeURIComponent).
const PLAIN = new Uint8Array(256);
for (const ch of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.!~*'():") {
  PLAIN[ch.charCodeAt(0)] = 1;
}
const HEX = '0123456789ABCDEF';

// The same set, for the common case of a field that needs no escaping at all.
const ALL_PLAIN = /^[A-Za-z0-9\-_.!~*'():]*$/;

export function encodeField(value: string): string {
  if (ALL_PLAIN.test(value)) return value;
  const bytes = Buffer.from(value, 'utf8');
  let out = '';
  for (const byte of bytes) {
    out += PLAIN[byte] === 1 ? String.fromCharCode(byte) : '%' + HEX[byte >> 4] + HEX[byte & 15];
  }
  return out;
}

export type FieldDecodeResult = { ok: true; value: string } | { ok: false; reason: 'space' | 'encoding' };

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x37;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x57;
  return -1;
}

/**
 * Decodes one raw field (the bytes between commas). Liberal in what it takes:
 * lowercase hex, and raw UTF-8 bytes, are accepted; raw spaces and control
 * bytes are not, and the result must be valid UTF-8.
 */
export function decodeField(raw: Uint8Array): FieldDecodeResult {
  // Most fields are printable ASCII with nothing escaped: they are their own value.
  let plain = true;
  for (let i = 0; i < raw.length; i++) {
    const byte = raw[i]!;
    if (byte <= 0x20 || byte >= 0x7f || byte === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return { ok: true, value: Buffer.from(raw.buffer, raw.byteOffset, raw.length).toString('latin1') };
  const out = Buffer.allocUnsafe(raw.length);
  let length = 0;
  for (let i = 0; i < raw.length; i++) {
    const byte = raw[i]!;
    if (byte === 0x20) return { ok: false, reason: 'space' };
    if (byte < 0x20 || byte === 0x7f) return { ok: false, reason: 'encoding' };
    if (byte === 0x25) {
      const high = i + 2 < raw.length ? hexValue(raw[i + 1]!) : -1;
      const low = i + 2 < raw.length ? hexValue(raw[i + 2]!) : -1;
      if (high < 0 || low < 0) return { ok: false, reason: 'encoding' };
      out[length++] = (high << 4) | low;
      i += 2;
    } else {
      out[length++] = byte;
    }
  }
  try {
    return { ok: true, value: utf8.decode(out.subarray(0, length)) };
  } catch {
    return { ok: false, reason: 'encoding' };
  }
}
