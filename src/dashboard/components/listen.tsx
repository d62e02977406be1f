import { listenUrlPath } from '../routes/listen.js';
import { assetUrl } from '../static-assets.js';

/**
 * Live listen on a call's page: a Listen/Stop button that streams the call's mixed audio to the
 * browser (listen.js, Web Audio), a level meter and a spoken state. `live`: the call is not over;
 * a finished call has nothing to listen to. Listening needs JavaScript; without it the control says so.
 */
export function ListenControl(props: { callId: string; live: boolean }) {
  if (!props.live) return null;
  const stateId = `listen-state-${props.callId}`;
  return (
    <div
      class="listen-control"
      data-listen-url={listenUrlPath(props.callId)}
      data-state="idle"
      data-frames="0"
      data-level="0"
    >
      <button type="button" class="listen-toggle" aria-pressed="false" aria-describedby={stateId} hidden>
        Listen
      </button>
      <meter
        class="listen-level"
        min={0}
        max={1}
        low={0.05}
        high={0.6}
        value={0}
        aria-label="Live audio level"
        hidden
      />
      <span id={stateId} class="listen-state" role="status" aria-live="polite">
        Listening to the call needs JavaScript.
      </span>
      <script src={assetUrl('listen.js')} defer />
    </div>
  );
}
