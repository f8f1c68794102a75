// The Worker's PBKDF2 (src/js/pbkdf2.js, WebCrypto's deriveBits) against
// known answers computed with Python's hashlib.pbkdf2_hmac, which is what
// Django runs, and which the Rust crate's tests (crates/core/src/password.rs)
// share: a hash made by `polycache hash-password` or by Django checks out in
// the Worker. Node's crypto.subtle is the same WebCrypto API as workerd's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pbkdf2Sha256 } from '../../src/js/pbkdf2.js';

const b64 = (bytes) => Buffer.from(bytes).toString('base64');

test('pbkdf2Sha256 gives Django\'s keys, also for an empty or non-ASCII password', async () => {
  for (const [password, salt, iterations, key] of [
    ['correct horse', 'seasalt', 1000, 'mQnueSakb748zqBAC1tmWVZsZbi2zPGZarEzTGdfmso='],
    ['', 'x', 2, 'DbJWPo0PmIefdmiayG9/ThLKNfe1jk/gcsT2jDqCYTE='],
    ['pässwörd', 'salt', 10, 'p8ZVDWB2VUcUknozDBUxfnYp1MIKeXQqs5im0WsCWWM='],
  ]) {
    const derived = await pbkdf2Sha256(password, salt, iterations);
    assert.ok(derived instanceof Uint8Array && derived.length === 32, 'a 32-byte key');
    assert.equal(b64(derived), key, `${JSON.stringify(password)} / ${salt} / ${iterations}`);
  }
});
