import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { createPortPool, type PortPool, PortPoolExhaustedError } from './port-pool.js';

const pools: PortPool[] = [];
const blockers: dgram.Socket[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
  for (const s of blockers.splice(0)) s.close();
});

/** A free even port with its odd neighbours, picked by binding port 0 and stepping off it. */
async function freeRange(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const p = s.address().port;
  s.close();
  return p % 2 === 0 ? p : p + 1;
}

describe('RTP port pool', () => {
  it('hands out bound even ports in range and reports exhaustion clearly', async () => {
    const min = await freeRange();
    const pool = createPortPool({ min, max: min + 5, host: '127.0.0.1' });
    pools.push(pool);
    const leases = await Promise.all([pool.allocate(), pool.allocate(), pool.allocate()]);
    const ports = leases.map((l) => l.port).sort();
    expect(ports).toEqual([min, min + 2, min + 4]);
    for (const l of leases) expect(l.socket.address().port).toBe(l.port);
    await expect(pool.allocate()).rejects.toBeInstanceOf(PortPoolExhaustedError);
    await expect(pool.allocate()).rejects.toThrow(/no free RTP port/);
    await leases[1].release();
    expect(pool.inUse).toBe(2);
    const again = await pool.allocate();
    expect(again.port).toBe(leases[1].port);
  });

  it('skips ports that another process holds', async () => {
    const min = await freeRange();
    const blocker = dgram.createSocket('udp4');
    await new Promise<void>((r) => blocker.bind(min, '127.0.0.1', r));
    blockers.push(blocker);
    const pool = createPortPool({ min, max: min + 3, host: '127.0.0.1' });
    pools.push(pool);
    const lease = await pool.allocate();
    expect(lease.port).toBe(min + 2);
  });

  it('rotates so a released port is not reused at once', async () => {
    const min = await freeRange();
    const pool = createPortPool({ min, max: min + 9, host: '127.0.0.1' });
    pools.push(pool);
    const a = await pool.allocate();
    await a.release();
    const b = await pool.allocate();
    expect(b.port).not.toBe(a.port);
    // The socket of a released lease is really closed: its port can be bound again.
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r, j) => {
      s.once('error', j);
      s.bind(a.port, '127.0.0.1', () => r());
    });
    s.close();
  });

  it('rejects a range without an even port', () => {
    expect(() => createPortPool({ min: 20001, max: 20001 })).toThrow(/invalid RTP port range/);
  });
});
