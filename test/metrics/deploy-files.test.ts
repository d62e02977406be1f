import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

// The monitoring profile's files fit together: what compose mounts exists, Prometheus finds its rules,
// and Grafana's dashboard provider reads the folder the dashboard is mounted into.
const read = (p: string) => fs.readFileSync(path.resolve(p), 'utf8');

describe('deploy/ and the compose monitoring profile', () => {
  const compose = read('docker-compose.yml');
  const mounts = [...compose.matchAll(/^\s+- (\.\/deploy\/[^:\s]+):([^:\s]+)(?::ro)?$/gm)].map((m) => ({
    source: m[1],
    target: m[2],
  }));

  it('mounts only files and folders that exist', () => {
    expect(mounts.map((m) => m.source)).toEqual(
      expect.arrayContaining([
        './deploy/prometheus/prometheus.yml',
        './deploy/prometheus/alerts.yml',
        './deploy/grafana/provisioning',
        './deploy/grafana/agentline-dashboard.json',
      ]),
    );
    for (const m of mounts) expect(fs.existsSync(path.resolve(m.source)), m.source).toBe(true);
  });

  it('keeps Prometheus and Grafana in the monitoring profile, off by default', () => {
    for (const service of ['prometheus', 'grafana']) {
      const block = new RegExp(`^  ${service}:\\n(?:    .*\\n|\\n)*?    profiles: \\["monitoring"\\]`, 'm');
      expect(compose, service).toMatch(block);
    }
  });

  it('points Prometheus at its rules and Grafana at the mounted dashboard and Prometheus', () => {
    const prometheus = read('deploy/prometheus/prometheus.yml');
    const rules = [...prometheus.matchAll(/^rule_files:\n((?:\s+- .+\n)+)/gm)].flatMap((m) =>
      m[1]
        .split('\n')
        .filter(Boolean)
        .map((l) => l.replace(/^\s+- /, '').trim()),
    );
    expect(rules).toEqual(['alerts.yml']);
    expect(mounts.find((m) => m.source === './deploy/prometheus/alerts.yml')?.target).toBe(
      '/etc/prometheus/alerts.yml',
    );
    expect(prometheus).toMatch(/metrics_path: \/metrics/);

    const provider = read('deploy/grafana/provisioning/dashboards/agentline.yml');
    const folder = /path: (\S+)/.exec(provider)?.[1];
    const dashboardTarget = mounts.find(
      (m) => m.source === './deploy/grafana/agentline-dashboard.json',
    )?.target;
    expect(dashboardTarget && path.posix.dirname(dashboardTarget)).toBe(folder);
    const datasource = read('deploy/grafana/provisioning/datasources/prometheus.yml');
    expect(datasource).toMatch(/url: http:\/\/127\.0\.0\.1:9090/);
    expect(compose).toMatch(/--web\.listen-address=127\.0\.0\.1:9090/);
  });
});
