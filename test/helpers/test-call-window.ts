/**
 * Tests run at any hour of the day, and the default calling hours (09:00–20:00 in the callee's
 * local time) would hold their calls queued at night. Every test stack runs with calls allowed at all
 * hours unless it sets its own window; the calling-window tests inject the time and set windows.
 */
export const TEST_CALL_WINDOW = { DEFAULT_CALL_WINDOW: 'always' } as const;
