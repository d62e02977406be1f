import fs from 'node:fs';
import { Readable } from 'node:stream';
import { parseRange } from '../../api/range.js';
import type { RecordingFile } from '../../calls/call-service.js';

/**
 * The recording file as an HTTP answer with single byte ranges (what <audio> asks for when it seeks),
 * by the same rules as the API's recording route: 206 with Content-Range, 416 outside the file.
 */
export function recordingResponse(
  file: RecordingFile,
  opts: { range: string | undefined; head: boolean; fileName: string },
): Response {
  const headers: Record<string, string> = {
    'Content-Type': file.contentType,
    'Accept-Ranges': 'bytes',
    'Last-Modified': file.modified.toUTCString(),
    'Cache-Control': 'private, no-store',
    'Content-Disposition': `inline; filename="${opts.fileName}"`,
  };
  const range = parseRange(opts.range, file.size);
  if (range.kind === 'unsatisfiable') {
    return new Response(null, {
      status: 416,
      headers: { 'Content-Range': `bytes */${file.size}`, 'Accept-Ranges': 'bytes' },
    });
  }
  const [start, end, status] =
    range.kind === 'partial' ? [range.start, range.end, 206] : [0, Math.max(0, file.size - 1), 200];
  if (range.kind === 'partial') headers['Content-Range'] = `bytes ${start}-${end}/${file.size}`;
  headers['Content-Length'] = String(file.size === 0 ? 0 : end - start + 1);
  const body =
    opts.head || file.size === 0
      ? null
      : (Readable.toWeb(fs.createReadStream(file.path, { start, end })) as ReadableStream<Uint8Array>);
  return new Response(body, { status, headers });
}
