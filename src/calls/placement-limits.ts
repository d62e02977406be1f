/** Bounds of placing a call for later, shared by the request schema, the checks and the docs. */

/** How far ahead `startAt` may lie, in days. */
export const START_AT_MAX_DAYS = 30;

/** How far ahead placement looks for an opening of a call's calling hours, in days. */
export const PLACEMENT_HORIZON_DAYS = 14;
