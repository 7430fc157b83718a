// Registration load. MODE selects the shape:
//   saturate: VUS clients in a closed loop (each sends its next request when
//             the previous is answered): the service's capacity.
//   rate:     an open arrival rate of RATE registrations per second: latency
//             at a given load. Each request is tagged with its email, so the
//             run's JSON output can be matched with Mailpit's receive times.
//   overload: like rate, at a rate far above capacity: the service must shed
//             load with 503 overloaded and nothing else.
//   count:    ITERATIONS registrations by VUS clients, as fast as they go.
import { check } from 'k6';
import { Counter } from 'k6/metrics';
import { register, uniqueEmail } from './lib.js';

const MODE = __ENV.MODE || 'rate';
const DURATION = __ENV.DURATION || '30s';
const RATE = Number(__ENV.RATE || 20);
const VUS = Number(__ENV.VUS || 8);

// Answers other than 201 and 503 overloaded: none is acceptable.
const unexpected = new Counter('unexpected_answers');
const shed = new Counter('overloaded_answers');

const scenarios = {
  saturate: { executor: 'constant-vus', vus: VUS, duration: DURATION },
  count: { executor: 'shared-iterations', vus: VUS, iterations: Number(__ENV.ITERATIONS || 1000), maxDuration: '30m' },
  rate: {
    executor: 'constant-arrival-rate', rate: RATE, timeUnit: '1s', duration: DURATION,
    preAllocatedVUs: Math.max(10, Math.ceil(RATE / 2)), maxVUs: Math.max(50, RATE * 2),
  },
  overload: {
    executor: 'constant-arrival-rate', rate: RATE, timeUnit: '1s', duration: DURATION,
    preAllocatedVUs: Math.max(50, RATE * 2), maxVUs: Math.max(100, RATE * 4),
  },
};

const thresholds = {
  saturate: { unexpected_answers: ['count==0'], 'http_req_failed{name:register}': ['rate<0.01'] },
  // At half the capacity, p99 under three hash times (~17 ms each here).
  rate: {
    unexpected_answers: ['count==0'],
    'http_req_failed{name:register}': ['rate<0.01'],
    'http_req_duration{name:register}': [`p(99)<${__ENV.P99_MS || 60}`],
  },
  overload: { unexpected_answers: ['count==0'] },
  count: { unexpected_answers: ['count==0'] },
};

export const options = {
  scenarios: { register: scenarios[MODE] },
  thresholds: thresholds[MODE],
  summaryTrendStats: ['min', 'avg', 'med', 'p(90)', 'p(95)', 'p(99)', 'max', 'count'],
  discardResponseBodies: false,
};

export default function () {
  const email = uniqueEmail(__ENV.PREFIX || 'reg');
  const res = register(email, MODE === 'rate' ? { email } : {});
  if (res.status === 503 && res.json('code') === 'overloaded') {
    shed.add(1);
  } else if (res.status !== 201) {
    unexpected.add(1, { status: String(res.status) });
  }
  check(res, { 'registered or shed': (r) => r.status === 201 || r.status === 503 });
}
