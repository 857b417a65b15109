// Node --import preload for the conformance suite's server mode: the suite sends no
// Authorization header, so this adds `Authorization: Bearer $CONFORMANCE_BEARER` to every
// request made through undici's global dispatcher (Node's fetch and undici.request, which
// is what the suite uses). CONFORMANCE_UNDICI_FROM names a file inside the suite's
// package, so that the suite's own undici copy is the one patched.
// See docs/notes/conformance.md §5.
import { createRequire } from 'node:module';

const token = process.env.CONFORMANCE_BEARER;
if (!token) {
  throw new Error('CONFORMANCE_BEARER is not set');
}
const require = createRequire(process.env.CONFORMANCE_UNDICI_FROM || import.meta.url);
const { Agent, setGlobalDispatcher } = require('undici');

setGlobalDispatcher(
  new Agent().compose((dispatch) => (opts, handler) => {
    if (Array.isArray(opts.headers)) {
      opts.headers.push('authorization', `Bearer ${token}`);
    } else {
      opts.headers = { ...(opts.headers || {}), authorization: `Bearer ${token}` };
    }
    return dispatch(opts, handler);
  }),
);
