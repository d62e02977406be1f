/**
 * Audio inside agentline: 16-bit mono PCM with its sample rate. Codecs and byte order change only at
 * the media edge; telephony, the simulated PBX and the voice engines all speak this.
 */
export interface Pcm {
  samples: Int16Array;
  sampleRate: number;
}
