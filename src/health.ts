/** One named dependency that /readyz reports and that may stop the deployment from placing calls. */
export interface ReadinessCheck {
  name: string;
  /** When false, a failing check is reported but does not block new calls. */
  requiredForCalls: boolean;
  check(): Promise<ReadinessResult> | ReadinessResult;
}
export interface ReadinessResult {
  ok: boolean;
  /** Human sentence: what is missing and how to fix it, or what is in use. */
  detail?: string;
}

export interface ReadinessReport {
  ready: boolean;
  canPlaceCalls: boolean;
  checks: Record<string, ReadinessResult>;
  /** Names and details of required checks that fail: the 503's `details`. */
  missing: { name: string; detail?: string }[];
}

export class Readiness {
  private readonly checks: ReadinessCheck[] = [];

  add(check: ReadinessCheck): void {
    this.checks.push(check);
  }

  async report(): Promise<ReadinessReport> {
    const results = await Promise.all(
      this.checks.map(async (c): Promise<[ReadinessCheck, ReadinessResult]> => {
        try {
          return [c, await c.check()];
        } catch (err) {
          return [c, { ok: false, detail: err instanceof Error ? err.message : String(err) }];
        }
      }),
    );
    const missing = results
      .filter(([c, r]) => c.requiredForCalls && !r.ok)
      .map(([c, r]) => ({ name: c.name, detail: r.detail }));
    return {
      ready: results.every(([, r]) => r.ok),
      canPlaceCalls: missing.length === 0,
      checks: Object.fromEntries(results.map(([c, r]) => [c.name, r])),
      missing,
    };
  }
}
