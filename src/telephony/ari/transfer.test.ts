import { describe, expect, it } from 'vitest';
import { briefText, dialStringFor } from './transfer.js';

describe('dialStringFor', () => {
  it('dials a number target through the call dial string', () => {
    expect(dialStringFor('+14155550160', 'PJSIP/{to}@trunk')).toBe('PJSIP/+14155550160@trunk');
    expect(dialStringFor('+14155550160', 'Local/{to}@callees')).toBe('Local/+14155550160@callees');
  });

  it("dials a SIP URI through the dial string's endpoint, and refuses without one", () => {
    expect(dialStringFor('sip:desk@pbx.example.com:5070', 'PJSIP/{to}@trunk')).toBe(
      'PJSIP/trunk/sip:desk@pbx.example.com:5070',
    );
    expect(dialStringFor('sips:desk@10.0.0.5', 'PJSIP/{to}@carrier-a')).toBe(
      'PJSIP/carrier-a/sips:desk@10.0.0.5',
    );
    expect(dialStringFor('sip:desk@pbx.example.com', 'Local/{to}@callees')).toBeNull();
    expect(dialStringFor('sip:desk@pbx.example.com', 'PJSIP/trunk/sip:{to}@carrier.example.com')).toBeNull();
  });
});

describe('briefText', () => {
  it('wraps the summary in a greeting and the handover, with sentence punctuation', () => {
    expect(briefText('The caller wants a refund')).toBe(
      "Hello, this is an automated assistant with a call for you. The caller wants a refund. I'm connecting you now.",
    );
    expect(briefText(' Dana asks about Friday? ')).toContain('Dana asks about Friday? I');
    expect(briefText('')).toBe(
      "Hello, this is an automated assistant with a call for you. I'm connecting you now.",
    );
  });
});
