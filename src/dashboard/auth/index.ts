/** What pages and tests use of the dashboard's authentication; see each module for the details. */
export { CSRF_FIELD, CSRF_HEADER } from './csrf.js';
export { type RequireUserOptions, requireUser } from './require-user.js';
export {
  type CreatedUser,
  type CreateUserInput,
  createUser,
  findUserByEmail,
  issueSignInLink,
  listUsers,
  signInLinkUrl,
  UserError,
} from './users.js';
