// Client tokens (JWT: HS256 shared secret or an asymmetric public key) and the network secret.
import { createHash, createPublicKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { SignJWT, jwtVerify } from 'jose';
import { IdSchema } from '../../shared/protocol.js';

const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'EdDSA'];

export class TokenVerifier {
  private readonly key: Uint8Array | KeyObject;
  private readonly algorithms: string[];
  private readonly signKey: Uint8Array | undefined;

  constructor(opts: { jwtSecret?: string | undefined; jwtPublicKey?: string | undefined }) {
    if (opts.jwtPublicKey) {
      this.key = createPublicKey(opts.jwtPublicKey);
      this.algorithms = ASYMMETRIC;
    } else if (opts.jwtSecret) {
      this.key = new TextEncoder().encode(opts.jwtSecret);
      this.algorithms = ['HS256'];
    } else {
      throw new Error('TokenVerifier needs jwtSecret or jwtPublicKey');
    }
    this.signKey = opts.jwtSecret ? new TextEncoder().encode(opts.jwtSecret) : undefined;
  }

  /** Returns the player id the token names; throws if the token is not valid. */
  async verify(token: string): Promise<string> {
    // A token without an expiry would be a password forever: `exp` is required.
    const { payload } = await jwtVerify(token, this.key, { algorithms: this.algorithms, requiredClaims: ['exp'] });
    const sub = IdSchema.safeParse(payload.sub);
    if (!sub.success) throw new Error('token subject is not a valid player id');
    return sub.data;
  }

  /** Development tokens (POST /v1/login). */
  async issue(player: string, ttl = '12h'): Promise<string> {
    if (!this.signKey) throw new Error('issuing tokens needs jwtSecret');
    return new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(player).setIssuedAt().setExpirationTime(ttl).sign(this.signKey);
  }
}

/** Constant-time comparison (hashing first makes the lengths equal). */
export function secretsEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}
