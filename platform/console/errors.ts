/** Error codes of the web console (docs/CONSOLE.md). */
import { defineError } from '../errors.ts';

/** A console page or data route without a live session: the same answer for none, unknown and expired. */
export const ConsoleSessionRequired = defineError('console_session_required', 401, 'Console session required', 'validate');
/** A login link that is unknown, already used or past its minute. */
export const ConsoleLinkInvalid = defineError('console_link_invalid', 401, 'Console login link invalid', 'validate');
/** A state-changing console request without the session's CSRF token, or from another origin. */
export const ConsoleCsrfInvalid = defineError('console_csrf_invalid', 403, 'Console request refused', 'validate');
