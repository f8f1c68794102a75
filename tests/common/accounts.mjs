// The accounts every test instance knows: plain credentials for the tests,
// and the AUTH_USERS secret (Django-format PBKDF2-SHA256 hashes) for the
// Worker. 1000 iterations keep logins fast in tests; production uses more.
import { pbkdf2Sync } from 'node:crypto';

/** A password hash in Django's format: pbkdf2_sha256$<iterations>$<salt>$<base64 key>. */
export function hashPassword(password, salt, iterations = 1000) {
  const key = pbkdf2Sync(Buffer.from(password, 'utf8'), Buffer.from(salt, 'utf8'), iterations, 32, 'sha256');
  return `pbkdf2_sha256$${iterations}$${salt}$${key.toString('base64')}`;
}

/** Accounts of AUTH_USERS, by the name the tests use. */
export const EDITOR = { email: 'editor@polycache.test', password: 'editor-password-1', role: 'editor' };
export const EDITOR2 = { email: 'editor2@polycache.test', password: 'editor-password-2', role: 'editor' };
export const ADMIN = { email: 'admin@polycache.test', password: 'admin-password-1', role: 'admin' };
/**
 * The SERVICE_EMAIL / SERVICE_PASSWORD pair: a service account outside
 * AUTH_USERS. Its password is as long and random as the Worker requires (32
 * random bytes in base64, what `openssl rand -base64 32` prints).
 */
export const SERVICE = { email: 'service@polycache.test', password: 'Qm9yZWFsaXMtc2VydmljZS0wMTIzNDU2Nzg5YWJjZGVm', role: 'service' };

const SALTS = { [EDITOR.email]: 'salt-editor-1', [EDITOR2.email]: 'salt-editor-2', [ADMIN.email]: 'salt-admin-1' };

/** The value of the AUTH_USERS secret: a JSON list of {email, role, password hash}. */
export const AUTH_USERS = JSON.stringify([EDITOR, EDITOR2, ADMIN].map(({ email, role, password }) => ({
  email, role, password: hashPassword(password, SALTS[email]),
})));
