import type { PGlite } from '@electric-sql/pglite';
import type { PoolStats } from './client.js';

/**
 * PGlite is one in-process connection with no pool to ask, and it runs one statement or transaction at
 * a time: its state is counted here from the calls made into it (drizzle uses query, exec and
 * transaction; a transaction's own queries run inside it and are not counted again). The connection is
 * leased while a transaction is open, active while a query runs, and every call beyond the one it
 * serves is waiting.
 */
export function countPgliteUse(client: PGlite): () => PoolStats {
  let queries = 0;
  let transactions = 0;
  const counted = <A extends unknown[], R>(
    fn: (...args: A) => Promise<R>,
    add: (n: 1 | -1) => void,
  ): ((...args: A) => Promise<R>) => {
    return async (...args: A) => {
      add(1);
      try {
        return await fn(...args);
      } finally {
        add(-1);
      }
    };
  };
  const query = (n: 1 | -1) => {
    queries += n;
  };
  client.query = counted(client.query.bind(client), query) as PGlite['query'];
  client.exec = counted(client.exec.bind(client), query) as PGlite['exec'];
  client.transaction = counted(client.transaction.bind(client), (n) => {
    transactions += n;
  }) as PGlite['transaction'];
  return () => {
    const calls = queries + transactions;
    const leased = transactions > 0 ? 1 : 0;
    return { connections: 1, opening: 0, idle: calls === 0 ? 1 : 0, leased, waiting: Math.max(0, calls - 1) };
  };
}
