import fs from 'node:fs';
import { Readable } from 'node:stream';
import type { RecordingFile } from '../calls/call-service.js';
import { parseRange } from './range.js';

export interface RecordingRequest {
  callId: string;
  /** The request's `Range` header. */
  range: string | undefined;
  /** HEAD: the headers only. */
  head: boolean;
  /** Added to a 200/206 answer (the API's X-Request-Id). */
  headers?: Record<string, string>;
  /**
   * A well-formed range outside the file: answers it with these headers (Content-Range gives the
   * size), in the route's own error format. A bare 416 by default.
   */
  unsatisfiable?: (headers: Record<string, string>) => Response;
}

/**
 * A call's recording as an HTTP answer with single byte ranges (what <audio> asks for when it seeks),
 * shared by the API's recording route and the dashboard's: 206 with Content-Range, 416 outside the file.
 * Each route keeps its own access check and error format.
 */
export function recordingResponse(file: RecordingFile, req: RecordingRequest): Response {
  const range = parseRange(req.range, file.size);
  if (range.kind === 'unsatisfiable') {
    const headers = { 'Content-Range': `bytes */${file.size}`, 'Accept-Ranges': 'bytes' };
    return req.unsatisfiable ? req.unsatisfiable(headers) : new Response(null, { status: 416, headers });
  }
  const fileName = `call-${req.callId.toLowerCase()}${file.path.slice(file.path.lastIndexOf('.'))}`;
  const headers: Record<string, string> = {
    'Content-Type': file.contentType,
    'Accept-Ranges': 'bytes',
    'Last-Modified': file.modified.toUTCString(),
    'Cache-Control': 'private, no-store',
    'Content-Disposition': `inline; filename="${fileName}"`,
    ...req.headers,
  };
  const [start, end, status] =
    range.kind === 'partial' ? [range.start, range.end, 206] : [0, Math.max(0, file.size - 1), 200];
  if (range.kind === 'partial') headers['Content-Range'] = `bytes ${start}-${end}/${file.size}`;
  headers['Content-Length'] = String(file.size === 0 ? 0 : end - start + 1);
  const body =
    req.head || file.size === 0
      ? null
      : (Readable.toWeb(fs.createReadStream(file.path, { start, end })) as ReadableStream<Uint8Array>);
  return new Response(body, { status, headers });
}
