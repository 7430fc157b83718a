// Helpers shared by the k6 scenarios. Configuration comes from the
// environment (k6 -e NAME=value or the process environment).
import http from 'k6/http';
import encoding from 'k6/encoding';
import exec from 'k6/execution';
import { sleep } from 'k6';

export const BASE = __ENV.BASE_URL || 'http://127.0.0.1:8080';
export const MAILPIT = __ENV.MAILPIT_URL || 'http://127.0.0.1:8025';
export const PASSWORD = 'correct horse battery staple';
const RUN = __ENV.RUN_ID || `${Date.now()}`;

// uniqueEmail is unique across VUs, iterations and runs.
export function uniqueEmail(prefix) {
  return `${prefix}-${RUN}-${exec.scenario.iterationInTest}@load.test`;
}

export function register(email, tags) {
  return http.post(`${BASE}/v1/users`, JSON.stringify({ email, password: PASSWORD }), {
    headers: { 'Content-Type': 'application/json' },
    tags: Object.assign({ name: 'register' }, tags || {}),
    responseCallback: http.expectedStatuses(201),
  });
}

function basic(email) {
  return `Basic ${encoding.b64encode(`${email}:${PASSWORD}`)}`;
}

export function activate(email, code) {
  return http.post(`${BASE}/v1/users/activate`, JSON.stringify({ code }), {
    headers: { 'Content-Type': 'application/json', Authorization: basic(email) },
    tags: { name: 'activate' },
    responseCallback: http.expectedStatuses(200),
  });
}

// codeFor reads the newest code emailed to email from Mailpit, polling for
// at most timeoutSeconds. It returns null when none arrived.
export function codeFor(email, timeoutSeconds) {
  const deadline = Date.now() + timeoutSeconds * 1000;
  while (Date.now() < deadline) {
    const res = http.get(`${MAILPIT}/api/v1/search?query=${encodeURIComponent(`to:"${email}"`)}&limit=1`, {
      tags: { name: 'mailpit' },
    });
    if (res.status === 200) {
      const msgs = res.json('messages') || [];
      if (msgs.length > 0) {
        const m = /^(\d{4}) is your verification code$/.exec(msgs[0].Subject);
        if (m) return m[1];
      }
    }
    sleep(0.05);
  }
  return null;
}
