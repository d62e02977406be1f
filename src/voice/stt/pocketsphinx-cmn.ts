import koffi, { type LibraryHandle } from 'koffi';

/** A decoder's cepstral-mean-normalisation state: the mean it subtracts and what it accumulated. */
export interface CmnState {
  mean: number[];
  sum: number[];
  nframe: number;
}

export interface CmnAccess {
  /** Copies the decoder's CMN state out. */
  read(dec: unknown): CmnState;
  /** Overwrites the decoder's CMN state (between utterances only). */
  write(dec: unknown, state: CmnState): void;
}

/*
 * libpocketsphinx3 (5prealpha) has no call that resets or seeds live CMN on a decoder: ps_start_stream
 * leaves it alone and ps_reinit reloads the models (as slow as ps_init). sphinxbase's cmn_live_set
 * seeds the mean but also weights it as CMN_WIN (500) frames, which makes a short first utterance
 * barely move it. So the state is read and written through the public structs of sphinxbase's
 * feat.h and cmn.h (feat_t up to cmn_struct, cmn_t), checked against the decoder on bind.
 */
const FeatHead = koffi.struct('agentline_feat_head', {
  refcount: 'int',
  name: 'const char *',
  cepsize: 'int32',
  n_stream: 'int32',
  stream_len: 'void *',
  window_size: 'int32',
  n_sv: 'int32',
  sv_len: 'void *',
  subvecs: 'void *',
  sv_buf: 'void *',
  sv_dim: 'int32',
  cmn: 'int',
  varnorm: 'int32',
  agc: 'int',
  compute_feat: 'void *',
  cmn_struct: 'void *',
});
const Cmn = koffi.struct('agentline_cmn', {
  cmn_mean: 'void *',
  cmn_var: 'void *',
  sum: 'void *',
  nframe: 'int32',
  veclen: 'int32',
});
const NFRAME_OFFSET = koffi.offsetof(Cmn, 'nframe');

interface FeatHeadValue {
  name: string | null;
  cepsize: number;
  cmn_struct: unknown;
}
interface CmnValue {
  cmn_mean: unknown;
  sum: unknown;
  nframe: number;
  veclen: number;
}

/**
 * Binds CMN access for decoders of one libpocketsphinx. `probe` is a freshly initialised decoder:
 * its feature type and vector length must match what the struct layout expects, else this throws
 * (another library build would be read as garbage).
 */
export function bindCmn(ps: LibraryHandle, probe: unknown): CmnAccess {
  const psGetFeat = ps.func('void *ps_get_feat(void *ps)');
  const cmnOf = (dec: unknown): { ptr: unknown; cmn: CmnValue } => {
    const feat = koffi.decode(psGetFeat(dec), FeatHead) as FeatHeadValue;
    return { ptr: feat.cmn_struct, cmn: koffi.decode(feat.cmn_struct, Cmn) as CmnValue };
  };

  const feat = koffi.decode(psGetFeat(probe), FeatHead) as FeatHeadValue;
  const layoutOk =
    feat.name === '1s_c_d_dd' &&
    feat.cepsize > 0 &&
    feat.cepsize <= 64 &&
    feat.cmn_struct !== null &&
    (koffi.decode(feat.cmn_struct, Cmn) as CmnValue).veclen === feat.cepsize;
  if (!layoutOk) {
    throw new Error(
      'pocketsphinx: cannot reach the decoder CMN state (expected the Debian libsphinxbase3 0.8+5prealpha layout and a 1s_c_d_dd model)',
    );
  }

  return {
    read(dec) {
      const { cmn } = cmnOf(dec);
      return {
        mean: koffi.decode(cmn.cmn_mean, 'float', cmn.veclen) as number[],
        sum: koffi.decode(cmn.sum, 'float', cmn.veclen) as number[],
        nframe: cmn.nframe,
      };
    },
    write(dec, state) {
      const { ptr, cmn } = cmnOf(dec);
      if (state.mean.length !== cmn.veclen || state.sum.length !== cmn.veclen) {
        throw new Error(`pocketsphinx: CMN vectors must have ${cmn.veclen} values`);
      }
      koffi.encode(cmn.cmn_mean, 'float', state.mean, cmn.veclen);
      koffi.encode(cmn.sum, 'float', state.sum, cmn.veclen);
      koffi.encode(ptr, NFRAME_OFFSET, 'int32', state.nframe);
    },
  };
}
