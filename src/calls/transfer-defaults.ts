/**
 * The `when` of a transfer the client gave without one: the situation a client most often means. It
 * belongs to the calls domain (the service stores it), and the API documents it from here.
 */
export const TRANSFER_WHEN_DEFAULT = 'the callee asks to speak with a person';
