import { LATENCY_STAGES, type TurnLatencyRow } from './latency.js';

const ROW = 22;
const LABEL = 64;
const WIDTH = 600;

/**
 * Per-turn latency as inline SVG bars: each stage a segment from the stage before it, so the bar's end
 * is when the callee first heard the agent. Drawn by hand on the server: a chart library would be a
 * bundle to ship (no CDN) for four rectangles a row. The SVG is hidden from screen readers; the
 * table beside it carries the same numbers for them, and for everyone on a phone's narrow screen.
 */
export function LatencyChart(props: { rows: TurnLatencyRow[] }) {
  const { rows } = props;
  if (rows.length === 0)
    return <p class="muted">No agent turn followed the callee’s speech, so there is no latency to show.</p>;
  const max = Math.max(1, ...rows.flatMap((r) => r.stages.map((s) => s ?? 0)));
  const scale = (WIDTH - LABEL - 60) / max;
  const height = rows.length * ROW + 4;
  return (
    <div class="latency">
      <ul class="latency-legend" aria-hidden="true">
        {LATENCY_STAGES.map((s, i) => (
          <li>
            <span class={`swatch stage-${i}`} /> {s.label}
          </li>
        ))}
      </ul>
      <svg
        class="latency-chart"
        viewBox={`0 0 ${WIDTH} ${height}`}
        width="100%"
        height={height}
        preserveAspectRatio="xMinYMin meet"
        aria-hidden="true"
        focusable="false"
      >
        {rows.map((r, row) => {
          const y = row * ROW + 2;
          let from = 0;
          const segments = r.stages.map((ms, i) => {
            if (ms === null) return null;
            const x = LABEL + from * scale;
            const w = Math.max(1, (ms - from) * scale);
            from = Math.max(from, ms);
            return (
              <rect class={`stage-${i}`} x={x.toFixed(1)} y={y} width={w.toFixed(1)} height={ROW - 6}>
                <title>{`Turn ${r.turn}: ${LATENCY_STAGES[i].label} at ${ms} ms`}</title>
              </rect>
            );
          });
          return (
            <g>
              <text x="0" y={y + ROW - 10} class="latency-label">{`Turn ${r.turn}`}</text>
              {segments}
              <text x={(LABEL + from * scale + 4).toFixed(1)} y={y + ROW - 10} class="latency-label">
                {`${from} ms`}
              </text>
            </g>
          );
        })}
      </svg>
      {/* For screen readers; shown instead of the chart on a phone, where the chart's text would be
          too small to read (calls.css). The wrapper clips it: a table ignores width and overflow. */}
      <div class="latency-numbers visually-hidden">
        <table>
          <caption>Latency of each turn, in milliseconds after the callee stopped speaking</caption>
          <thead>
            <tr>
              <th scope="col">Turn</th>
              {LATENCY_STAGES.map((s) => (
                <th scope="col">{s.label}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr>
                <th scope="row">{r.turn}</th>
                {r.stages.map((s) => (
                  <td>{s === null ? 'did not happen' : `${s} ms`}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
