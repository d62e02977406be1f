import type { Waveform } from './waveform.js';

/**
 * The recording's outline as one SVG path, drawn on the server from peaks of the WAV: no client-side
 * decoding of the whole file and no waveform library to ship (no CDN, no bundler). call-page.js
 * seeks the <audio> where it is clicked and moves the played overlay; the player's own controls stay
 * the keyboard and screen-reader way to seek, so the picture is hidden from assistive technology.
 */
export function WaveformSvg(props: { wave: Waveform }) {
  const { peaks, durationSeconds } = props.wave;
  const n = Math.max(1, peaks.length);
  let d = '';
  peaks.forEach((p, i) => {
    const h = Math.max(0.5, p * 48);
    d += `M${i}.5 ${(50 - h).toFixed(1)}V${(50 + h).toFixed(1)}`;
  });
  return (
    <svg
      id="waveform"
      class="waveform"
      viewBox={`0 0 ${n} 100`}
      preserveAspectRatio="none"
      width="100%"
      height="80"
      data-duration={durationSeconds.toFixed(3)}
      aria-hidden="true"
      focusable="false"
    >
      <rect id="waveform-played" class="waveform-played" x="0" y="0" width="0" height="100" />
      <path class="waveform-peaks" d={d} />
    </svg>
  );
}
