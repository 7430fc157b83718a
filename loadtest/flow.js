// The whole user journey at a steady arrival rate: register, read the code
// from Mailpit (the SMTP sink), activate. Measures how long a user waits
// from the registration to the activation, email included.
import { check } from 'k6';
import { Trend } from 'k6/metrics';
import { activate, codeFor, register, uniqueEmail } from './lib.js';

const journey = new Trend('journey_duration', true);
const RATE = Number(__ENV.RATE || 10);

export const options = {
  scenarios: {
    flow: {
      executor: 'constant-arrival-rate', rate: RATE, timeUnit: '1s', duration: __ENV.DURATION || '30s',
      preAllocatedVUs: Math.max(10, RATE * 2), maxVUs: Math.max(50, RATE * 5),
    },
  },
  thresholds: {
    checks: ['rate>0.99'],
    journey_duration: [`p(99)<${__ENV.JOURNEY_P99_MS || 1000}`],
  },
  summaryTrendStats: ['min', 'avg', 'med', 'p(90)', 'p(95)', 'p(99)', 'max', 'count'],
};

export default function () {
  const start = Date.now();
  const email = uniqueEmail('flow');
  const reg = register(email);
  if (!check(reg, { registered: (r) => r.status === 201 })) return;
  const code = codeFor(email, 10);
  if (!check(code, { 'code emailed': (c) => c !== null })) return;
  const act = activate(email, code);
  if (check(act, { activated: (r) => r.status === 200 })) journey.add(Date.now() - start);
}
