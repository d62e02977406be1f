import dgram from 'node:dgram';

export interface RtpPortLease {
  readonly port: number;
  /** Bound UDP socket on `port`; closed by `release()`. */
  readonly socket: dgram.Socket;
  /** Closes the socket and returns the port to the pool; safe to call twice. */
  release(): Promise<void>;
}

export interface PortPool {
  /** Binds the next free even port; rejects with `PortPoolExhaustedError` when none is left. */
  allocate(): Promise<RtpPortLease>;
  readonly inUse: number;
  /** Releases every lease still held (shutdown). */
  close(): Promise<void>;
}

export interface PortPoolOptions {
  min: number;
  max: number;
  /** Address to bind (0.0.0.0 by default). */
  host?: string;
}

export class PortPoolExhaustedError extends Error {
  constructor(min: number, max: number, inUse: number) {
    super(`no free RTP port in ${min}-${max} (${inUse} leased here, the rest busy in other processes)`);
    this.name = 'PortPoolExhaustedError';
  }
}

function bind(port: number, host: string): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket({ type: 'udp4' });
    const onError = (err: Error) => {
      socket.close();
      reject(err);
    };
    socket.once('error', onError);
    socket.bind(port, host, () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

/**
 * Even UDP ports from [min, max] (RTP uses even ports, RTCP the odd one above). Allocation rotates
 * through the range so a port just released is not reused at once (late packets of the previous
 * call must not land in the next one), and skips ports other processes hold.
 */
export function createPortPool(opts: PortPoolOptions): PortPool {
  const host = opts.host ?? '0.0.0.0';
  const first = opts.min % 2 === 0 ? opts.min : opts.min + 1;
  if (!Number.isInteger(opts.min) || !Number.isInteger(opts.max) || first > opts.max || opts.max > 65535) {
    throw new RangeError(`invalid RTP port range ${opts.min}-${opts.max}: it must hold an even port ≤ 65535`);
  }
  const count = Math.floor((opts.max - first) / 2) + 1;
  const leases = new Map<number, RtpPortLease>();
  let cursor = 0;

  return {
    async allocate() {
      for (let tried = 0; tried < count; tried++) {
        const port = first + 2 * ((cursor + tried) % count);
        if (leases.has(port)) continue;
        // Claim before the async bind so concurrent allocations never race for the same port.
        const placeholder = {} as RtpPortLease;
        leases.set(port, placeholder);
        let socket: dgram.Socket;
        try {
          socket = await bind(port, host);
        } catch (err) {
          leases.delete(port);
          if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') continue;
          throw err;
        }
        cursor = (cursor + tried + 1) % count;
        let released: Promise<void> | null = null;
        const lease: RtpPortLease = {
          port,
          socket,
          release() {
            released ??= new Promise<void>((resolve) => {
              try {
                socket.close(() => resolve());
              } catch {
                resolve(); // already closed by its user
              }
            }).then(() => {
              if (leases.get(port) === lease) leases.delete(port);
            });
            return released;
          },
        };
        leases.set(port, lease);
        return lease;
      }
      throw new PortPoolExhaustedError(opts.min, opts.max, leases.size);
    },
    get inUse() {
      return leases.size;
    },
    async close() {
      await Promise.all([...leases.values()].filter((l) => l.release).map((l) => l.release()));
    },
  };
}
