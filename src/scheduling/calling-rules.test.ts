import { describe, expect, it } from 'vitest';
import { callingRulesFor } from './calling-rules.js';

const config = { DEFAULT_CALL_WINDOW: '09:00-20:00 mon,tue,wed,thu,fri', QUIET_HOURS: '21:00-08:00' };
const callWindow = { start: '10:00', end: '12:00', days: ['sat' as const] };
const accountWindow = { start: '08:00', end: '18:00', days: ['mon' as const] };

describe('callingRulesFor', () => {
  it("takes the call's own window first", async () => {
    const rules = await callingRulesFor(
      { callWindow, timeZones: ['Europe/London'], toNumber: '+442071234567' },
      { callWindow: accountWindow },
      config,
    );
    expect(rules).toEqual({
      zones: ['Europe/London'],
      window: callWindow,
      quiet: { start: '21:00', end: '08:00' },
    });
  });

  it("then the account's, then the deployment's default", async () => {
    const call = { callWindow: null, timeZones: ['Europe/London'], toNumber: '+442071234567' };
    expect((await callingRulesFor(call, { callWindow: accountWindow }, config)).window).toEqual(
      accountWindow,
    );
    expect((await callingRulesFor(call, { callWindow: null }, config)).window).toEqual({
      start: '09:00',
      end: '20:00',
      days: ['mon', 'tue', 'wed', 'thu', 'fri'],
    });
    expect(
      (await callingRulesFor(call, null, { DEFAULT_CALL_WINDOW: 'always', QUIET_HOURS: undefined })).window,
    ).toEqual({
      start: '00:00',
      end: '00:00',
      days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
    });
  });

  it('has no quiet hours when the deployment sets none', async () => {
    const call = { callWindow, timeZones: ['UTC'], toNumber: '+442071234567' };
    expect(
      (await callingRulesFor(call, null, { DEFAULT_CALL_WINDOW: 'always', QUIET_HOURS: undefined })).quiet,
    ).toBeNull();
  });

  it('uses the zones stored at placement, else the number', async () => {
    const stored = await callingRulesFor(
      { callWindow, timeZones: ['Asia/Tokyo'], toNumber: '+19075551234' },
      null,
      config,
    );
    expect(stored.zones).toEqual(['Asia/Tokyo']);
    for (const timeZones of [null, []]) {
      const derived = await callingRulesFor(
        { callWindow, timeZones, toNumber: '+19075551234' },
        null,
        config,
      );
      expect([...derived.zones].sort()).toEqual(['America/Adak', 'America/Anchorage']);
    }
  });
});
