// PBKDF2-HMAC-SHA256 through WebCrypto (crypto.subtle.deriveBits): the
// runtime's native code, where the same derivation in wasm costs the Worker
// several times the CPU per login, on a route anyone can call. Workers cap
// PBKDF2 at 100,000 iterations, which is why password hashes are too.
// Answers the 32-byte key as a Uint8Array.
const encoder = new TextEncoder();

export async function pbkdf2Sha256(password, salt, iterations) {
  const key = await crypto.subtle.importKey('raw', encoder.encode(password), 'PBKDF2', false, ['deriveBits']);
  const params = { name: 'PBKDF2', hash: 'SHA-256', salt: encoder.encode(salt), iterations };
  return new Uint8Array(await crypto.subtle.deriveBits(params, key, 256));
}
