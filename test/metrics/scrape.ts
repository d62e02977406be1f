import parsePrometheusTextFormat, { type PromFamily, type PromSample } from 'parse-prometheus-text-format';
import { expect } from 'vitest';

/** A parsed /metrics answer, with lookups by metric name and labels. */
export class Scrape {
  readonly families: Map<string, PromFamily>;
  constructor(readonly text: string) {
    this.families = new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
  }

  family(name: string): PromFamily {
    const f = this.families.get(name);
    expect(f, `${name} in the scrape`).toBeDefined();
    return f!;
  }

  /** The one sample of `name` whose labels include `labels`. */
  sample(name: string, labels: Record<string, string> = {}): PromSample | undefined {
    return this.family(name).metrics.find((m) =>
      Object.entries(labels).every(([k, v]) => m.labels?.[k] === v),
    );
  }

  /** A gauge's or counter's value; 0 when the labelled series is absent. */
  value(name: string, labels: Record<string, string> = {}): number {
    return Number(this.sample(name, labels)?.value ?? 0);
  }

  /** A histogram's observation count for these labels. */
  count(name: string, labels: Record<string, string> = {}): number {
    return Number(this.sample(name, labels)?.count ?? 0);
  }

  /** Every sample name the text format carries, histogram parts (_bucket, _sum, _count) included. */
  sampleNames(): Set<string> {
    const names = new Set<string>();
    for (const line of this.text.split('\n')) {
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
      if (m) names.add(m[1]);
    }
    return names;
  }
}

export async function scrape(url: string, init?: RequestInit): Promise<Scrape> {
  const res = await fetch(`${url}/metrics`, init);
  const text = await res.text();
  expect(res.status, text.slice(0, 500)).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return new Scrape(text);
}
